// Reconnection delays: first, 2×first, 4×first … capped at max; reset() after a success.
export class Backoff {
  private current: number;

  constructor(
    private readonly first = 500,
    private readonly max = 10_000,
  ) {
    this.current = first;
  }

  next(): number {
    const delay = this.current;
    this.current = Math.min(this.current * 2, this.max);
    return delay;
  }

  reset(): void {
    this.current = this.first;
  }
}
