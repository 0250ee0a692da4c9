//! Emails to buyers: a confirmation with show, venue, seats and one QR image per ticket, and a
//! cancellation. Sent through SMTP (`SMTP_URL`) or written as `.eml` files under the data dir.
//! Each (booking, kind) is sent once: a redelivered event finds it in `emails_sent`.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono_tz::Tz;
use futures_util::StreamExt;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::store::{self, BookingMail, MailTicket};
use crate::app::AppState;
use crate::catalog::time::local_rfc3339;
use crate::domain::BookingStatus;
use crate::money::Currency;

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Mailer {
    pub fn new(smtp_url: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        match smtp_url {
            Some(url) => Ok(Self::Smtp(smtp_transport(url)?)),
            None => Ok(Self::Files(data_dir.join("outbox-mail"))),
        }
    }

    async fn send(&self, name: &str, message: Message) -> anyhow::Result<()> {
        let envelope = message.envelope().clone();
        self.send_formatted(name, &envelope, message.formatted())
            .await
    }

    /// Sends an email already formatted (see [`Message::formatted`]) to its envelope.
    async fn send_formatted(
        &self,
        name: &str,
        envelope: &lettre::address::Envelope,
        formatted: Vec<u8>,
    ) -> anyhow::Result<()> {
        match self {
            Self::Smtp(transport) => {
                transport.send_raw(envelope, &formatted).await?;
            }
            Self::Files(dir) => {
                // One trip to the blocking pool for the whole file (`tokio::fs` makes one per
                // call: three per email, 5% of a node's CPU in thread wake-ups during an
                // onsale, measured with perf).
                let path = dir.join(format!("{name}.eml"));
                let tmp = dir.join(format!(".{name}.eml.tmp"));
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(&tmp, formatted)?;
                    std::fs::rename(&tmp, &path)
                })
                .await??;
            }
        }
        Ok(())
    }
}

/// A plain SMTP transport for `smtp://[user:password@]host[:port]` (STARTTLS-less, as on a
/// local relay or a sidecar).
fn smtp_transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let rest = url
        .strip_prefix("smtp://")
        .ok_or_else(|| anyhow::anyhow!("SMTP_URL must start with smtp://"))?;
    let rest = rest.trim_end_matches('/');
    let (credentials, host_port) = match rest.rsplit_once('@') {
        Some((creds, hp)) => (Some(creds), hp),
        None => (None, rest),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| anyhow::anyhow!("bad SMTP port"))?),
        None => (host_port, 25),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .timeout(Some(std::time::Duration::from_secs(10)));
    if let Some(creds) = credentials {
        let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.to_owned(),
            password.to_owned(),
        ));
    }
    Ok(builder.build())
}

/// The buyer's mailbox; an address no mail server would take can never succeed, so it is
/// logged and skipped rather than retried forever.
fn recipient(b: &BookingMail) -> Option<Mailbox> {
    match b.email.parse() {
        Ok(address) => Some(Mailbox::new(Some(b.name.clone()), address)),
        Err(e) => {
            tracing::error!(error = %e, "buyer email address cannot receive mail; email skipped");
            None
        }
    }
}

/// Sends the confirmation of a booking with its QR tickets (once).
pub async fn send_confirmation(state: &AppState, booking_id: i64) -> anyhow::Result<()> {
    send_confirmations(state, &[booking_id]).await
}

/// Emails of one batch being built and sent at once.
const MAILS_AT_ONCE: usize = 8;

/// Sends the confirmations of several bookings (each once). What they read and the record of
/// what was sent are one statement each for the whole batch; each email is built and sent on
/// its own, and one that fails does not stop the others (the error is returned after the rest
/// are sent and recorded, so a redelivery sends only what is missing).
pub async fn send_confirmations(state: &AppState, booking_ids: &[i64]) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let done = store::emails_sent(&state.db, booking_ids, "confirmation").await?;
    let todo: Vec<i64> = booking_ids
        .iter()
        .copied()
        .filter(|id| !done.contains(id))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let mut valid = store::valid_tickets(&state.db, &todo).await?;
    // Usually the ticket consumer has signed them already; otherwise they are signed here
    // (the same codes: signatures are deterministic) and read again.
    let unsigned: Vec<i64> = valid
        .iter()
        .filter(|t| t.code.is_none())
        .map(|t| t.booking_id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !unsigned.is_empty() {
        crate::tickets::issue_for_bookings(state, &unsigned).await?;
        valid = store::valid_tickets(&state.db, &todo).await?;
    }
    let mails = store::booking_mails(&state.db, &todo).await?;
    let mut tickets: HashMap<i64, Vec<MailTicket>> = HashMap::new();
    for t in valid {
        tickets.entry(t.booking_id).or_default().push(t);
    }
    // Cancelled before this (re)delivery: a confirmation now would contradict it.
    let confirmed: Vec<(BookingMail, Vec<MailTicket>)> = mails
        .into_iter()
        .filter(|b| b.status == BookingStatus::Confirmed)
        .map(|b| {
            let tickets = tickets.remove(&b.booking_id).unwrap_or_default();
            (b, tickets)
        })
        .collect();
    let read = started.elapsed();
    let results: Vec<(BookingMail, anyhow::Result<bool>)> = futures_util::stream::iter(confirmed)
        .map(|(b, tickets)| async move {
            let result = match confirmation(state, &b, &tickets) {
                Ok(Some(message)) => {
                    let name = format!("booking-{}-confirmation", b.booking_id);
                    state.mailer.send(&name, message).await.map(|()| true)
                }
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            };
            (b, result)
        })
        .buffer_unordered(MAILS_AT_ONCE)
        .collect()
        .await;
    let mut sent = Vec::with_capacity(results.len());
    let mut failure = None;
    for (b, result) in results {
        match result {
            Ok(true) => sent.push((b.booking_id, b.email)),
            Ok(false) => {}
            Err(e) => failure = Some(e.context(format!("booking {}", b.booking_id))),
        }
    }
    let built = started.elapsed();
    store::record_emails_sent(&state.db, &sent, "confirmation").await?;
    tracing::info!(
        count = sent.len(),
        read_ms = read.as_millis() as u64,
        sent_ms = (built - read).as_millis() as u64,
        recorded_ms = (started.elapsed() - built).as_millis() as u64,
        "confirmation emails sent"
    );
    failure.map_or(Ok(()), Err)
}

/// The confirmation email of a booking, with a QR image per ticket; `None` when the buyer's
/// address can take no mail.
fn confirmation(
    state: &AppState,
    b: &BookingMail,
    tickets: &[MailTicket],
) -> anyhow::Result<Option<Message>> {
    let tz: Tz = b.timezone.parse().unwrap_or(Tz::UTC);
    let total = Currency::parse(&b.currency)
        .map(|c| c.to_major(b.total_minor).to_string())
        .unwrap_or_default();
    let seats: Vec<String> = tickets
        .iter()
        .map(|t| format!("{} ({})", t.seat, t.section))
        .collect();
    let text = format!(
        "Hello {},\n\nYour booking {} is confirmed.\n\n{}\n{}, {}\n{}\n{}\n\nSeats: {}\nTotal: {} {}\n\nShow the QR code of each ticket (attached) at the gate.\n",
        b.name,
        b.booking_id,
        b.title,
        b.venue_name,
        b.city,
        b.address,
        local_rfc3339(b.start_time, tz),
        seats.join(", "),
        total,
        b.currency,
    );
    let mut body = MultiPart::mixed().singlepart(SinglePart::plain(text));
    for t in tickets {
        let Some(code) = &t.code else { continue };
        let png = crate::tickets::qr::png(code, 6, crate::tickets::qr::Mask::Fixed)?;
        body = body.singlepart(
            Attachment::new(format!("ticket-{}-{}.png", t.ticket_id, t.seat))
                .body(png, ContentType::parse("image/png")?),
        );
    }
    let Some(to) = recipient(b) else {
        return Ok(None);
    };
    Ok(Some(
        Message::builder()
            .from(state.email_from.parse::<Mailbox>()?)
            .to(to)
            .subject(format!("Your tickets: {} ({})", b.title, seats.join(", ")))
            .multipart(body)?,
    ))
}

/// Sends the cancellation notice of a booking (once).
pub async fn send_cancellation(state: &AppState, booking_id: i64) -> anyhow::Result<()> {
    if !store::emails_sent(&state.db, &[booking_id], "cancellation")
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let Some(b) = store::booking_mails(&state.db, &[booking_id])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    let tz: Tz = b.timezone.parse().unwrap_or(Tz::UTC);
    let text = format!(
        "Hello {},\n\nYour booking {booking_id} for {} at {} on {} is cancelled and refunded; its tickets are no longer valid.\n",
        b.name,
        b.title,
        b.venue_name,
        local_rfc3339(b.start_time, tz),
    );
    let Some(to) = recipient(&b) else {
        return Ok(());
    };
    let message = Message::builder()
        .from(state.email_from.parse::<Mailbox>()?)
        .to(to)
        .subject(format!("Cancelled: {}", b.title))
        .singlepart(SinglePart::plain(text))?;
    state
        .mailer
        .send(&format!("booking-{booking_id}-cancellation"), message)
        .await?;
    store::record_emails_sent(&state.db, &[(booking_id, b.email.clone())], "cancellation").await?;
    Ok(())
}
