// Feeds refresh requests so that no two requests in flight ever touch the same family: a FIFO
// of live refresh tokens, one per family. A request takes the oldest; its 200 answer puts the
// child token back at the end. While the run makes fewer requests than there are families,
// every request rotates a different family; past that, a family comes round again only after
// every other one has been rotated.
export class TokenQueue {
  private items: (string | undefined)[]
  private head = 0
  private tail: number
  taken = 0
  returned = 0
  refused = 0
  retried = 0
  emptyTakes = 0

  constructor(tokens: string[]) {
    this.items = [...tokens]
    this.tail = tokens.length
  }

  get size(): number {
    return this.tail - this.head
  }

  take(): string {
    if (this.head === this.tail) {
      // Cannot happen while families outnumber connections; a malformed token keeps the run
      // going and is counted as a non-2xx answer.
      this.emptyTakes++
      return 'queue-empty'
    }
    const t = this.items[this.head]!
    this.items[this.head++] = undefined
    if (this.head > 65_536 && this.head * 2 > this.tail) {
      this.items = this.items.slice(this.head)
      this.tail -= this.head
      this.head = 0
    }
    this.taken++
    return t
  }

  /**
   * onResponse: a rotation's child goes to the back of the queue. A 503 (database busy) changed
   * nothing, so the presented token is still its family's live one and goes back instead.
   */
  answer(status: number, body: string, presented?: string): void {
    if (status === 503 && presented) {
      this.retried++
      this.items[this.tail++] = presented
      return
    }
    if (status !== 200) {
      this.refused++
      return
    }
    const child = (JSON.parse(body) as { refresh_token?: string }).refresh_token
    if (!child) {
      this.refused++
      return
    }
    this.items[this.tail++] = child
    this.returned++
  }
}
