import { defineConfig, type Plugin } from "vite";

// In production whoever serves dist/ also serves /config.json (vision-demo does). The dev and
// preview servers answer it here instead, so that no config.json ends up in dist/.
// VISION_GRPC_WEB_URL and VISION_CAMERAS (comma-separated) override the defaults.
function devConfigJson(): Plugin {
  const body = () =>
    JSON.stringify({
      grpcWebUrl: process.env.VISION_GRPC_WEB_URL ?? "http://127.0.0.1:8080",
      cameras: (process.env.VISION_CAMERAS ?? "cam-01,cam-02,cam-03,cam-04").split(",").filter(Boolean),
    });
  // Returns nothing on purpose: a function returned from configureServer runs as a post hook.
  const serve = (server: { middlewares: { use: (path: string, fn: (req: unknown, res: any) => void) => unknown } }) => {
    server.middlewares.use("/config.json", (_req, res) => {
      res.setHeader("content-type", "application/json");
      res.setHeader("cache-control", "no-store");
      res.end(body());
    });
  };
  return { name: "vision-dev-config-json", configureServer: serve, configurePreviewServer: serve };
}

export default defineConfig({
  plugins: [devConfigJson()],
  build: { target: "es2022", sourcemap: false },
});
