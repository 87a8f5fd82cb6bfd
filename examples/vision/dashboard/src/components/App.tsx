import { observer } from "mobx-react-lite";
import type { DashboardStore } from "../stores/dashboardStore";
import { CameraTile } from "./CameraTile";

export const App = observer(function App({ store }: { store: DashboardStore }) {
  const { cameras, frame } = store;
  return (
    <>
      <header className="top">
        <h1>Vision</h1>
        <span>
          {store.streaming}/{cameras.length} streaming · {store.totalEps.toFixed(0)} events/s · via{" "}
          {store.origins.join(", ")}
        </span>
      </header>
      <main className="grid">
        {cameras.map((c) => (
          <CameraTile key={c.cameraId} camera={c} frame={frame} />
        ))}
      </main>
    </>
  );
});
