// A promise-chain mutex: runs async tasks one at a time, in submission order.

/** Serialises async work on a resource that must not be used concurrently (a DB connection). */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
