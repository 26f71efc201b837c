// Test helper: a real SMTP server on loopback that keeps every message it receives, and the
// settings that point Sillage's notice mailer at it.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message as received: its envelope recipients and raw text. */
export interface Mail {
  to: string[];
  raw: string;
}

/** A listening sink: `received` fills as mail arrives; `env` configures Sillage to send to it. */
export interface SmtpSink {
  received: Mail[];
  env: { SILLAGE_SMTP_URL: string; SILLAGE_SMTP_FROM: string };
  close(): Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const received: Mail[] = [];
  const smtp = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    disableReverseLookup: true,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  return {
    received,
    env: {
      SILLAGE_SMTP_URL: `smtp://127.0.0.1:${port}?starttls=optional`,
      SILLAGE_SMTP_FROM: 'sillage@example.com',
    },
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}
