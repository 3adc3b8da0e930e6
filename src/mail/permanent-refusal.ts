/**
 * Whether a failed send is the SMTP server's permanent refusal of this mail: a 5xx reply to its
 * recipient (RCPT TO: no such mailbox) or to its message (DATA: content or size refused). RFC 5321
 * says a 5xx is not to be repeated as it was; retried, it only comes back, and a server seeing the
 * same refused address again and again lowers the sender's standing. A 5xx to anything else (AUTH,
 * MAIL FROM, the greeting) says the setup is wrong for every mail, not this one: that is retried
 * as a transient fault, so the mails queued meanwhile go out once an operator fixes it.
 */
export function isPermanentRefusal(error: unknown): boolean {
  const { responseCode, command } = (error ?? {}) as { responseCode?: unknown; command?: unknown };
  return (
    typeof responseCode === 'number' &&
    responseCode >= 500 &&
    responseCode < 600 &&
    (command === 'RCPT TO' || command === 'DATA')
  );
}
