/**
 * Compressed time. The lab runs in wall-clock time, but the story it tells
 * spans hours (a warm-up the baselines learn from, a trickle over many
 * minutes). Every event the emulation produces — NetFlow records exported by
 * softflowd, audit and runtime events written by the scenario — gets its
 * event time from the same mapping:
 *
 *     eventTime = eventOrigin + (wallTime - wallOrigin) * speed
 *
 * so one wall second is `speed` seconds of event time, for every source alike.
 */
export class LabClock {
  constructor(
    readonly wallOrigin: number,
    readonly eventOrigin: number,
    readonly speed: number,
  ) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError('speed must be a positive number');
  }

  /** Event time of a wall-clock instant (epoch ms). */
  toEvent(wall: number): number {
    return Math.round(this.eventOrigin + (wall - this.wallOrigin) * this.speed);
  }

  /** Wall-clock instant of an event time. */
  toWall(event: number): number {
    return this.wallOrigin + (event - this.eventOrigin) / this.speed;
  }

  /** Event time now. */
  now(): number {
    return this.toEvent(Date.now());
  }

  /** Wall milliseconds that cover `eventMs` of event time. */
  wallSpan(eventMs: number): number {
    return eventMs / this.speed;
  }
}
