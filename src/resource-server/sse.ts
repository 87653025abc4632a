// A Server-Sent Events parser (the WHATWG event-stream format) for a stream read in chunks:
// lines end in LF, CRLF or CR; `event`, `data` (joined by LF), `id` and `retry` fields; a
// blank line dispatches; comments (`:`) and unknown fields are ignored.
export interface SseEvent {
  event: string
  data: string
  /** the id field of this event, if it had one */
  id: string | undefined
}

export class SseParser {
  private buffer = ''
  private event = ''
  private data: string[] = []
  private id: string | undefined
  /** the last event id seen (what a reconnect sends as Last-Event-ID) */
  lastEventId: string | undefined
  retryMs: number | undefined

  constructor(private readonly onEvent: (event: SseEvent) => void, private readonly maxLineLength = 64 * 1024) {}

  push(chunk: string): void {
    this.buffer += chunk
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer)
      if (!m) break
      // A CR at the very end may be the first half of a CRLF split across chunks.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) break
      const line = this.buffer.slice(0, m.index)
      this.buffer = this.buffer.slice(m.index + m[0].length)
      this.line(line)
    }
    if (this.buffer.length > this.maxLineLength) throw new Error('event-stream line too long')
  }

  private line(line: string): void {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.event = value
    else if (field === 'data') this.data.push(value)
    else if (field === 'id' && !value.includes('\0')) this.id = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value)
  }

  private dispatch(): void {
    if (this.id !== undefined) this.lastEventId = this.id
    if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.id })
    this.event = ''
    this.data = []
    this.id = undefined
  }
}
