//! Failure injection for the crash and race tests: armed only from code (tests hold the
//! `AppState`), never from configuration, so a deployment cannot trigger it.

use std::sync::atomic::{AtomicU32, Ordering};

/// Armed faults, each firing once per arming.
#[derive(Debug, Default)]
pub struct Faults {
    fail_before_commit: AtomicU32,
    drop_connection_in_booking: AtomicU32,
    relay_crash_after_publish: AtomicU32,
    crash_before_capture: AtomicU32,
    capture_not_recorded: AtomicU32,
    crash_before_refund: AtomicU32,
    pause_before_booking_commit: AtomicU32,
    pause_in_booking_cancel: AtomicU32,
}

/// How long the `Pause…` faults hold their transaction open.
pub const PAUSE: std::time::Duration = std::time::Duration::from_millis(600);

/// Where a fault can fire.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The booking transaction fails after the payment is authorized, before commit.
    FailBeforeCommit,
    /// The booking transaction's database connection is dropped mid-transaction.
    DropConnectionInBooking,
    /// The outbox relay dies after publishing a batch, before marking it published.
    RelayCrashAfterPublish,
    /// The booking committed, then the node died before capturing the payment.
    CrashBeforeCapture,
    /// The provider captured, then the node died before recording it.
    CaptureNotRecorded,
    /// A cancellation committed, then the node died before refunding.
    CrashBeforeRefund,
    /// The booking transaction, its rows written, waits [`PAUSE`] before committing.
    PauseBeforeBookingCommit,
    /// A booking's cancellation waits [`PAUSE`] after its first write, before committing.
    PauseInBookingCancel,
}

impl Faults {
    fn counter(&self, fault: Fault) -> &AtomicU32 {
        match fault {
            Fault::FailBeforeCommit => &self.fail_before_commit,
            Fault::DropConnectionInBooking => &self.drop_connection_in_booking,
            Fault::RelayCrashAfterPublish => &self.relay_crash_after_publish,
            Fault::CrashBeforeCapture => &self.crash_before_capture,
            Fault::CaptureNotRecorded => &self.capture_not_recorded,
            Fault::CrashBeforeRefund => &self.crash_before_refund,
            Fault::PauseBeforeBookingCommit => &self.pause_before_booking_commit,
            Fault::PauseInBookingCancel => &self.pause_in_booking_cancel,
        }
    }

    /// Arms `fault` to fire `times` times.
    pub fn arm(&self, fault: Fault, times: u32) {
        self.counter(fault).store(times, Ordering::SeqCst);
    }

    /// True (and one firing used up) when `fault` is armed.
    pub fn fire(&self, fault: Fault) -> bool {
        self.counter(fault)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}
