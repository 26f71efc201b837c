// Security notices to an account: kept in its in-app list and, when SMTP is configured, e-mailed.
import type { Logger } from '../shared/log.js';
import type { AccountStore, UserRecord } from '../store/account-types.js';
import { renderNotice, type NoticeDetails, type NoticeKind, type NoticeOutbox } from './notices.js';
import { newId } from './tokens.js';

/** Records a notice for a user and sends it by e-mail when an outbox is configured. */
export class Notifier {
  constructor(
    private readonly store: AccountStore,
    private readonly outbox: NoticeOutbox | null,
    private readonly dashboardUrl: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Never fails the action that caused it: a notice that cannot be stored is logged (by kind
   * only), and e-mail is delivered in the background with retries.
   */
  async notify(user: UserRecord, kind: NoticeKind, details: NoticeDetails = {}): Promise<void> {
    const at = this.now();
    // A setup link is a bearer secret: e-mailed to the person, never stored with the notice.
    const { setupLink: _link, ...stored } = details;
    try {
      await this.store.addNotice({
        id: newId('ntc'),
        userId: user.id,
        kind,
        details: { ...stored },
        createdAtMs: at,
        readAtMs: null,
      });
    } catch {
      this.logger.error('notice not stored', { kind, userId: user.id });
    }
    if (!this.outbox) return;
    try {
      this.outbox.enqueue(
        user.email,
        renderNotice(kind, details, new Date(at), { dashboardUrl: this.dashboardUrl }),
      );
    } catch {
      this.logger.error('notice not sent', { kind, userId: user.id });
    }
  }

  /**
   * A stored notice as the e-mail says it: `title` is its subject without the product's tag, for
   * the dashboard's list of notices (details are stored cleaned of the setup link already).
   */
  render(kind: NoticeKind, details: NoticeDetails, atMs: number): { title: string; text: string } {
    const rendered = renderNotice(kind, details, new Date(atMs), {
      dashboardUrl: this.dashboardUrl,
    });
    return { title: rendered.subject.replace(/^\[[^\]]*\]\s*/, ''), text: rendered.text };
  }

  /** Whether notices (and setup links) reach people by e-mail: SMTP is configured. */
  get emails(): boolean {
    return this.outbox !== null;
  }

  /** Notifies every user in `users` (e.g. all members of an organisation after a lock-down). */
  async notifyAll(
    users: readonly UserRecord[],
    kind: NoticeKind,
    details: NoticeDetails = {},
  ): Promise<void> {
    for (const user of users) await this.notify(user, kind, details);
  }
}
