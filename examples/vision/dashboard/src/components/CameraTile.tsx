import { useEffect, useState } from "react";
import { observer } from "mobx-react-lite";
import type { CameraStore } from "../stores/cameraStore";
import { DetectionCanvas } from "./DetectionCanvas";

// Field elements hold bare values (units live in the labels) so tests can parse them.
export const CameraTile = observer(function CameraTile({
  camera,
  frame,
}: {
  camera: CameraStore;
  frame: { width: number; height: number };
}) {
  const statusClass = camera.status.toLowerCase().replace(/[^a-z]+/g, "-");
  return (
    <article className={`tile state-${camera.state}`} data-camera={camera.cameraId}>
      <header>
        <h2>{camera.cameraId}</h2>
        <span className="state" data-field="state">
          {camera.state}
        </span>
      </header>
      <DetectionCanvas camera={camera} frame={frame} />
      <dl className="meta">
        <dt>Location</dt>
        <dd data-field="location">{camera.location}</dd>
        <dt>Status</dt>
        <dd>
          <span className={`status status-${statusClass}`} data-field="status">
            {camera.status}
          </span>
        </dd>
        <dt>Installed</dt>
        <dd data-field="install-date">{camera.installDate}</dd>
      </dl>
      <div className="figures">
        <span>
          <b data-field="eps">{camera.eps.toFixed(1)}</b> events/s
        </span>
        <span>
          <b data-field="latency-ms">{camera.latencyMs ?? "–"}</b> ms latency
        </span>
      </div>
      <p className="error" data-field="error">
        {camera.error}
      </p>
      {camera.retryAt !== null && <RetryNote at={camera.retryAt} />}
    </article>
  );
});

/** Counts down to the next attempt on its own timer, so the tile itself need not re-render. */
function RetryNote({ at }: { at: number }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(timer);
  }, []);
  return <p className="retry">reconnecting in {Math.max(0, (at - now) / 1000).toFixed(1)} s</p>;
}
