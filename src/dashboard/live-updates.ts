import { bufferTime, filter, from, mergeMap, type Observable } from 'rxjs';
import type { QueueEventEnvelope } from '../events/queue-event.js';

/** How often, at most, the dashboard's event stream sends a batch to one page (ms). */
export const LIVE_UPDATE_WINDOW = 250;

/**
 * The events one dashboard page is sent, bounded whatever the event rate: per `windowMs`, each task's latest
 * progress (the page moves its bar) and the last other event (the page reloads on it, at most once per
 * `REFRESH_GAP`, so more would only be written and dropped). Before, every event of the app went to every open
 * page, thousands a second under load, and a page that read slowly made the server buffer them.
 */
export function liveUpdates(
  events$: Observable<QueueEventEnvelope>,
  windowMs = LIVE_UPDATE_WINDOW,
): Observable<QueueEventEnvelope> {
  return events$.pipe(
    bufferTime(windowMs),
    filter((batch) => batch.length > 0),
    mergeMap((batch) => {
      const progress = new Map<string, QueueEventEnvelope>();
      let other: QueueEventEnvelope | undefined;
      for (const event of batch) {
        if (event.type === 'task.progress' && event.taskId !== null) progress.set(event.taskId, event);
        else other = event;
      }
      return from(other ? [...progress.values(), other] : [...progress.values()]);
    }),
  );
}
