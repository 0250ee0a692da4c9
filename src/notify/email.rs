//! Emails to buyers: a confirmation with show, venue, seats and one QR image per ticket, and a
//! cancellation. Sent through SMTP (`SMTP_URL`) or written as `.eml` files under the data dir.
//! Each (booking, kind) is sent once: a redelivered event finds it in `emails_sent`.

use std::path::PathBuf;

use chrono_tz::Tz;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::store::{self, BookingMail};
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
        match self {
            Self::Smtp(transport) => {
                transport.send(message).await?;
            }
            Self::Files(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let path = dir.join(format!("{name}.eml"));
                let tmp = dir.join(format!(".{name}.eml.tmp"));
                tokio::fs::write(&tmp, message.formatted()).await?;
                tokio::fs::rename(&tmp, &path).await?;
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
    if store::email_sent(&state.db, booking_id, "confirmation").await? {
        return Ok(());
    }
    crate::tickets::issue_for_booking(state, booking_id).await?;
    let Some(b) = store::booking_mail(&state.db, booking_id).await? else {
        return Ok(());
    };
    if b.status != BookingStatus::Confirmed {
        // Cancelled before this (re)delivery: a confirmation now would contradict it.
        return Ok(());
    }
    let tickets = store::valid_tickets(&state.db, booking_id).await?;
    let tz: Tz = b.timezone.parse().unwrap_or(Tz::UTC);
    let total = Currency::parse(&b.currency)
        .map(|c| c.to_major(b.total_minor).to_string())
        .unwrap_or_default();
    let seats: Vec<String> = tickets
        .iter()
        .map(|(_, seat, section, _)| format!("{seat} ({section})"))
        .collect();
    let text = format!(
        "Hello {},\n\nYour booking {booking_id} is confirmed.\n\n{}\n{}, {}\n{}\n{}\n\nSeats: {}\nTotal: {} {}\n\nShow the QR code of each ticket (attached) at the gate.\n",
        b.name,
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
    for (ticket_id, seat, _, code) in &tickets {
        let Some(code) = code else { continue };
        let png = crate::tickets::qr::png(code, 6)?;
        body = body.singlepart(
            Attachment::new(format!("ticket-{ticket_id}-{seat}.png"))
                .body(png, ContentType::parse("image/png")?),
        );
    }
    let Some(to) = recipient(&b) else {
        return Ok(());
    };
    let message = Message::builder()
        .from(state.email_from.parse::<Mailbox>()?)
        .to(to)
        .subject(format!("Your tickets: {} ({})", b.title, seats.join(", ")))
        .multipart(body)?;
    state
        .mailer
        .send(&format!("booking-{booking_id}-confirmation"), message)
        .await?;
    store::record_email_sent(&state.db, booking_id, "confirmation", &b.email).await?;
    tracing::info!(booking_id, "confirmation email sent");
    Ok(())
}

/// Sends the cancellation notice of a booking (once).
pub async fn send_cancellation(state: &AppState, booking_id: i64) -> anyhow::Result<()> {
    if store::email_sent(&state.db, booking_id, "cancellation").await? {
        return Ok(());
    }
    let Some(b) = store::booking_mail(&state.db, booking_id).await? else {
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
    store::record_email_sent(&state.db, booking_id, "cancellation", &b.email).await?;
    Ok(())
}
