/**
 * An image file (PNG, JPEG, GIF, WebP, SVG) shown with fit, zoom and pan. The bytes come through
 * the workspace's download route and are shown as an <img> of a blob URL with the type named
 * by the extension: an SVG drawn by <img> runs no script and loads nothing, whatever it holds.
 */

import { createResource, createSignal, onCleanup, Show } from "solid-js";
import { extensionOf } from "../../../shared/paths.js";
import { reasonOf } from "../files/format.js";
import { WarnIcon } from "../files/icons.js";
import "./viewers.css";

const IMAGE_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
};

/** The image type of `path` by its extension, or undefined when it is not an image we show. */
export function imageTypeOf(path: string): string | undefined {
  const ext = extensionOf(path);
  return Object.hasOwn(IMAGE_TYPES, ext) ? IMAGE_TYPES[ext] : undefined;
}

const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.05;
const ZOOM_MAX = 32;

export function ImageViewer(props: {
  path: string;
  shown: string;
  read: (path: string, signal: AbortSignal) => Promise<Blob>;
}) {
  const abort = new AbortController();
  let url: string | undefined;
  onCleanup(() => {
    abort.abort();
    if (url) URL.revokeObjectURL(url);
  });
  const [image, { refetch }] = createResource(async () => {
    const blob = await props.read(props.path, abort.signal);
    const typed = new Blob([blob], { type: imageTypeOf(props.path) ?? "application/octet-stream" });
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(typed);
    return { url, size: blob.size };
  });
  // undefined: fit the pane; a number: that many screen pixels per image pixel.
  const [zoom, setZoom] = createSignal<number | undefined>(undefined);
  const [natural, setNatural] = createSignal<{ w: number; h: number }>();
  let img: HTMLImageElement | undefined;
  const current = () => zoom() ?? (img && natural() ? img.clientWidth / natural()!.w : 1);
  const zoomBy = (f: number) => setZoom(Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, current() * f)));

  let pane: HTMLDivElement | undefined;
  let drag: { x: number; y: number; left: number; top: number } | undefined;
  const onPointerDown = (e: PointerEvent) => {
    if (!pane || zoom() === undefined) return;
    drag = { x: e.clientX, y: e.clientY, left: pane.scrollLeft, top: pane.scrollTop };
    pane.setPointerCapture(e.pointerId);
  };
  const onPointerMove = (e: PointerEvent) => {
    if (!pane || !drag) return;
    pane.scrollLeft = drag.left - (e.clientX - drag.x);
    pane.scrollTop = drag.top - (e.clientY - drag.y);
  };
  const onWheel = (e: WheelEvent) => {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    zoomBy(e.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP);
  };

  return (
    <Show
      when={!image.error}
      fallback={
        <div class="files-error" role="alert" data-testid="viewer-error">
          <WarnIcon size={28} />
          <h2>Cannot show {props.shown}</h2>
          <p>{reasonOf(String(image.error?.message ?? image.error))}</p>
          <div class="files-error-actions">
            <button type="button" class="button" onClick={() => void refetch()}>
              Try again
            </button>
          </div>
        </div>
      }
    >
      <div class="viewer" data-testid="image-viewer">
        <div class="doc-toolbar">
          <span class="viewer-info" data-testid="image-info">
            {natural() ? `${natural()!.w} × ${natural()!.h}` : "Loading…"}
            {" · "}
            {zoom() === undefined ? "fit" : `${Math.round(current() * 100)}%`}
          </span>
          <span class="spacer" />
          <button
            type="button"
            class="icon-button"
            aria-pressed={zoom() === undefined}
            data-testid="image-fit"
            onClick={() => setZoom(undefined)}
          >
            Fit
          </button>
          <button
            type="button"
            class="icon-button"
            data-testid="image-actual"
            onClick={() => setZoom(1)}
          >
            100%
          </button>
          <button
            type="button"
            class="icon-button"
            title="Zoom out (Ctrl-wheel)"
            data-testid="image-zoom-out"
            onClick={() => zoomBy(1 / ZOOM_STEP)}
          >
            −
          </button>
          <button
            type="button"
            class="icon-button"
            title="Zoom in (Ctrl-wheel)"
            data-testid="image-zoom-in"
            onClick={() => zoomBy(ZOOM_STEP)}
          >
            +
          </button>
        </div>
        <div
          class="image-pane"
          data-fit={zoom() === undefined ? "true" : undefined}
          ref={pane}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={() => (drag = undefined)}
          onWheel={onWheel}
        >
          <Show when={image()}>
            {(i) => (
              <img
                ref={img}
                src={i().url}
                alt={props.shown}
                draggable={false}
                data-testid="image"
                style={
                  zoom() === undefined || !natural()
                    ? {}
                    : {
                        width: `${natural()!.w * zoom()!}px`,
                        height: `${natural()!.h * zoom()!}px`,
                      }
                }
                onLoad={(e) =>
                  setNatural({ w: e.currentTarget.naturalWidth, h: e.currentTarget.naturalHeight })
                }
              />
            )}
          </Show>
        </div>
      </div>
    </Show>
  );
}
