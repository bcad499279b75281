/**
 * fast-check arbitraries over the documented request space of the OpenAI operations the mock
 * answers: models, messages and input shapes, `n`, the three output caps, `response_format` /
 * `text.format` kinds, tools and `tool_choice`, `stream_options`, `dimensions`, `encoding_format`.
 * Every generated request is also checked against the description's request schema, so the
 * space is the documented one. Requests are valid: the answers are what is validated.
 */
import fc from 'fast-check';

type Json = Record<string, unknown>;

export const CHAT_MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4o-mini-2024-07-18',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-5',
  'gpt-5-mini',
  'o3',
  'o4-mini',
  'gpt-3.5-turbo',
] as const;

export const EMBEDDING_MODELS = ['text-embedding-3-small', 'text-embedding-3-large', 'text-embedding-ada-002'] as const;

const text = fc.oneof(
  fc.lorem({ maxCount: 12 }).filter((s) => s.trim() !== ''),
  fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((s) => s.trim() !== ''),
);
const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/);
const sampling = fc.record(
  {
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  },
  { requiredKeys: [] },
);

/** A small object schema, as structured outputs and tool parameters use. */
const objectSchema = fc
  .uniqueArray(
    fc.tuple(
      name,
      fc.constantFrom<Json>(
        { type: 'string' },
        { type: 'integer', minimum: 0, maximum: 100 },
        { type: 'number' },
        { type: 'boolean' },
        { type: 'string', enum: ['low', 'medium', 'high'] },
        { type: 'array', items: { type: 'string' } },
      ),
    ),
    { minLength: 1, maxLength: 4, selector: ([key]) => key },
  )
  .map((props) => ({
    type: 'object',
    properties: Object.fromEntries(props),
    required: props.map(([key]) => key),
    additionalProperties: false,
  }));

/** Function tools with distinct names, and a `tool_choice` that fits them (none when there are no tools). */
function toolsAndChoice<T>(tool: (name: string, schema: Json) => T, named: (name: string) => unknown) {
  return fc.uniqueArray(fc.tuple(name, objectSchema), { maxLength: 3, selector: ([n]) => n }).chain((defs) => {
    const tools = defs.map(([n, schema]) => tool(n, schema));
    if (defs.length === 0) return fc.constant({});
    const choice = fc.oneof(
      fc.constant(undefined),
      fc.constantFrom('none', 'auto', 'required'),
      fc.constantFrom(...defs.map(([n]) => named(n))),
    );
    return choice.map((tool_choice) => (tool_choice === undefined ? { tools } : { tools, tool_choice }));
  });
}

// --- chat completions ---------------------------------------------------------------------------

const chatContent = fc.oneof(
  text,
  fc.array(
    text.map((t) => ({ type: 'text', text: t })),
    { minLength: 1, maxLength: 2 },
  ),
);
const chatMessage = fc.oneof(
  fc.record({ role: fc.constantFrom('system', 'developer', 'user'), content: chatContent }),
  fc.record({ role: fc.constant('assistant'), content: text }),
);
const chatFormat = fc.oneof(
  fc.constant(undefined),
  fc.constant({ type: 'text' }),
  fc.constant({ type: 'json_object' }),
  fc
    .tuple(name, objectSchema, fc.boolean())
    .map(([n, schema, strict]) => ({ type: 'json_schema', json_schema: { name: n, schema, strict } })),
);
const outputCap = (fields: readonly string[], min: number) =>
  fc.oneof(
    fc.constant({}),
    fc.tuple(fc.constantFrom(...fields), fc.integer({ min, max: 64 })).map(([field, value]) => ({ [field]: value })),
  );

/** A valid `POST /v1/chat/completions` body; `stream` decides the stream fields. */
export function chatRequest(stream: boolean): fc.Arbitrary<Json> {
  return fc
    .record({
      model: fc.constantFrom(...CHAT_MODELS),
      messages: fc.array(chatMessage, { minLength: 1, maxLength: 3 }),
      n: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      cap: outputCap(['max_tokens', 'max_completion_tokens'], 1),
      response_format: chatFormat,
      tools: toolsAndChoice(
        (n, parameters) => ({ type: 'function', function: { name: n, description: `Tool ${n}`, parameters } }),
        (n) => ({ type: 'function', function: { name: n } }),
      ),
      sampling,
      stream_options: fc.option(fc.record({ include_usage: fc.boolean() }), { nil: undefined }),
    })
    .map(({ cap, tools, sampling: knobs, response_format, stream_options, messages, ...rest }) => {
      const body: Json = { ...rest, ...cap, ...tools, ...knobs };
      // JSON mode needs the word in the prompt, as OpenAI requires.
      body.messages =
        response_format?.type === 'json_object'
          ? [...messages, { role: 'user', content: 'Answer in JSON.' }]
          : messages;
      if (response_format !== undefined) body.response_format = response_format;
      if (stream) {
        body.stream = true;
        if (stream_options !== undefined) body.stream_options = stream_options;
      }
      return dropUndefined(body);
    });
}

// --- responses ----------------------------------------------------------------------------------

const responseInput = fc.oneof(
  text,
  fc.array(
    fc.oneof(
      fc.record({
        role: fc.constantFrom('user', 'system', 'developer'),
        content: fc.oneof(
          text,
          fc.array(
            text.map((t) => ({ type: 'input_text', text: t })),
            { minLength: 1, maxLength: 2 },
          ),
        ),
      }),
      fc.record({ role: fc.constant('assistant'), content: text }),
      fc.record({ type: fc.constant('message'), role: fc.constant('user'), content: text }),
    ),
    { minLength: 1, maxLength: 3 },
  ),
);
const responseFormat = fc.oneof(
  fc.constant(undefined),
  fc.constant({ type: 'text' }),
  fc.constant({ type: 'json_object' }),
  fc
    .tuple(name, objectSchema, fc.boolean())
    .map(([n, schema, strict]) => ({ type: 'json_schema', name: n, schema, strict })),
);

/** A valid `POST /v1/responses` body. */
export function responsesRequest(stream: boolean): fc.Arbitrary<Json> {
  return fc
    .record({
      model: fc.constantFrom(...CHAT_MODELS),
      input: responseInput,
      instructions: fc.option(text, { nil: undefined }),
      cap: outputCap(['max_output_tokens'], 16),
      format: responseFormat,
      tools: toolsAndChoice(
        (n, parameters) => ({ type: 'function', name: n, description: `Tool ${n}`, parameters, strict: true }),
        (n) => ({ type: 'function', name: n }),
      ),
      sampling: fc.record(
        {
          temperature: fc.double({ min: 0, max: 2, noNaN: true }),
          top_p: fc.double({ min: 0, max: 1, noNaN: true }),
          store: fc.boolean(),
          parallel_tool_calls: fc.boolean(),
          metadata: fc.dictionary(name, fc.string({ maxLength: 20 }), { maxKeys: 3 }),
          user: name,
          safety_identifier: name,
          prompt_cache_key: name,
        },
        { requiredKeys: [] },
      ),
    })
    .map(({ cap, tools, sampling: knobs, format, input, ...rest }) => {
      const body: Json = { ...rest, ...cap, ...tools, ...knobs };
      body.input =
        format?.type === 'json_object'
          ? [
              ...(typeof input === 'string' ? [{ role: 'user', content: input }] : input),
              { role: 'user', content: 'Reply in JSON.' },
            ]
          : input;
      if (format !== undefined) body.text = { format };
      if (stream) body.stream = true;
      return dropUndefined(body);
    });
}

// --- embeddings ---------------------------------------------------------------------------------

const tokenIds = fc.array(fc.integer({ min: 0, max: 50_000 }), { minLength: 1, maxLength: 16 });

/** A valid `POST /v1/embeddings` body: every input shape, both encodings, `dimensions` where the model has them. */
export function embeddingsRequest(): fc.Arbitrary<Json> {
  return fc.constantFrom(...EMBEDDING_MODELS).chain((model) => {
    const native = model === 'text-embedding-3-large' ? 3072 : 1536;
    const dimensions = model.startsWith('text-embedding-3')
      ? fc.option(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constantFrom(256, 512, native)), { nil: undefined })
      : fc.constant(undefined);
    return fc
      .record({
        input: fc.oneof(
          text,
          fc.array(text, { minLength: 1, maxLength: 4 }),
          tokenIds,
          fc.array(tokenIds, { minLength: 1, maxLength: 3 }),
        ),
        encoding_format: fc.constantFrom(undefined, 'float', 'base64'),
        dimensions,
      })
      .map((fields) => dropUndefined({ model, ...fields }));
  });
}

function dropUndefined(body: Json): Json {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}
