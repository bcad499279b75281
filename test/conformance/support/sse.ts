/** A whole SSE body split into its events, as a client's parser sees them. */
export interface SseMessage {
  event: string | undefined;
  data: string;
}

export function sseMessages(text: string): SseMessage[] {
  const messages: SseMessage[] = [];
  for (const block of text.replaceAll('\r\n', '\n').split('\n\n')) {
    if (block.trim() === '') continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (name === 'event') event = value;
      if (name === 'data') data.push(value);
    }
    if (data.length > 0) messages.push({ event, data: data.join('\n') });
  }
  return messages;
}
