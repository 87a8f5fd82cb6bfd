import { createRoot } from "react-dom/client";
import { loadConfig } from "./config";
import { DashboardStore } from "./stores/dashboardStore";
import { App } from "./components/App";
import "./styles.css";

declare global {
  interface Window {
    /** Set once per page load: tests compare it to prove reconnection happened without a reload. */
    __loadId: string;
  }
}

window.__loadId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

const root = createRoot(document.getElementById("root")!);

loadConfig().then(
  (config) => {
    const store = new DashboardStore(config);
    store.start();
    window.addEventListener("pagehide", () => store.stop());
    root.render(<App store={store} />);
  },
  (e: unknown) => {
    root.render(<p className="fatal">Cannot start: {e instanceof Error ? e.message : String(e)}</p>);
  },
);
