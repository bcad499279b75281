/**
 * Anthropic publishes no API description; the official SDK's types are the reference (issue 16,
 * item 4). These checks fail to compile (`npm run typecheck`) when a mock answer stops being
 * assignable to what the SDK declares it parses: the message, every stream event, count_tokens,
 * the models and the error body. The runtime half (the SDK's own stream parsing) is in
 * test/anthropic-sdk.test.ts: `finalMessage()` equals the JSON answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Anthropic from '@anthropic-ai/sdk';
import type { promptTokens } from '../tokens.js';
import type { MockErrorBody, MockMessage, MockStreamEvent, modelInfo } from './index.js';

/** True only when every `A` is a `B` (not distributed over unions, so one bad member fails it). */
type Assignable<A, B> = [A] extends [B] ? true : false;

const messageIsSdkMessage: Assignable<MockMessage, Anthropic.Message> = true;
const eventsAreSdkEvents: Assignable<MockStreamEvent, Anthropic.RawMessageStreamEvent> = true;
const countIsSdkCount: Assignable<{ input_tokens: ReturnType<typeof promptTokens> }, Anthropic.MessageTokensCount> =
  true;
const modelIsSdkModel: Assignable<ReturnType<typeof modelInfo>, Anthropic.ModelInfo> = true;
const errorIsSdkError: Assignable<MockErrorBody, Anthropic.ErrorResponse> = true;

describe("the Anthropic mock's answers and the SDK's types", () => {
  it('are assignable to Message, RawMessageStreamEvent, MessageTokensCount, ModelInfo and ErrorResponse', () => {
    // The proof is the compilation; this keeps the checks from being dropped as unused.
    assert.deepEqual(
      [messageIsSdkMessage, eventsAreSdkEvents, countIsSdkCount, modelIsSdkModel, errorIsSdkError],
      [true, true, true, true, true],
    );
  });
});
