// The logger writes only allowlisted fields: nothing else can reach a log line, even by a cast.
import { describe, expect, it } from 'vitest';
import { createLogger, safeStack, type LogFields } from './log.js';

function capture(level: 'debug' | 'info' = 'debug') {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level, sink: (l) => lines.push(l) }) };
}

describe('createLogger', () => {
  it('keeps allowlisted fields and drops every other field', () => {
    const { lines, logger } = capture();
    const smuggled = {
      route: '/track',
      status: 200,
      ip: '203.0.113.9',
      userAgent: 'Mozilla/5.0 secret-agent',
      headers: { authorization: 'Bearer sil_sk_x' },
      body: 'data=…',
      email: 'alice@example.com',
    } as unknown as LogFields;
    logger.info('request', smuggled);
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!);
    expect(Object.keys(parsed).sort()).toEqual(['level', 'msg', 'route', 'status', 'time']);
    for (const secret of [
      '203.0.113.9',
      'secret-agent',
      'sil_sk_x',
      'alice@example.com',
      'data=',
    ]) {
      expect(lines[0]).not.toContain(secret);
    }
  });

  it('drops object values even under allowlisted names', () => {
    const { lines, logger } = capture();
    logger.warn('x', { route: { raw: '/track?data=secret' } } as unknown as LogFields);
    expect(JSON.parse(lines[0]!)).not.toHaveProperty('route');
  });

  it('honours the level', () => {
    const { lines, logger } = capture('info');
    logger.debug('hidden');
    logger.info('shown');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });
});

describe('safeStack', () => {
  it('keeps stack frames and drops the message, which may quote input', () => {
    const stack = safeStack(new Error('bad value alice@example.com'));
    expect(stack).toBeDefined();
    expect(stack).not.toContain('alice@example.com');
    expect(stack).toContain('at ');
  });
});
