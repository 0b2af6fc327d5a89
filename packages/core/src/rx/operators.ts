import { Observable, type OperatorFunction } from 'rxjs';

/**
 * `map` that isolates errors per item: when `project` throws, `onError` is
 * called with the error and the item, and the stream goes on. Returning
 * `undefined` emits nothing; returning an array emits each element.
 */
export function safeMap<T, R>(project: (item: T) => R | readonly R[] | undefined | null, onError: (error: unknown, item: T) => void): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) =>
      source.subscribe({
        next: (item) => {
          let result: R | readonly R[] | undefined | null;
          try {
            result = project(item);
          } catch (err) {
            onError(err, item);
            return;
          }
          if (result === undefined || result === null) return;
          if (Array.isArray(result)) for (const r of result as readonly R[]) subscriber.next(r);
          else subscriber.next(result as R);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

/** Keep only items of the given kinds, narrowing the type. */
export function ofKind<T extends { kind: string }, K extends T['kind']>(...kinds: K[]): OperatorFunction<T, Extract<T, { kind: K }>> {
  const set = new Set<string>(kinds);
  return (source) =>
    new Observable<Extract<T, { kind: K }>>((subscriber) =>
      source.subscribe({
        next: (item) => {
          if (set.has(item.kind)) subscriber.next(item as Extract<T, { kind: K }>);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
