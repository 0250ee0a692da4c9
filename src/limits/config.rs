//! The limits, as flags and environment variables. Each is requests a minute; the burst a
//! bucket allows at once is a quarter of it (at least 3). 0 turns one off.

use std::net::IpAddr;

use super::gcra::Policy;
use super::Class;

#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitConfig {
    /// Rate limits on or off (`false` for load tests from one address).
    #[arg(long = "rate-limits", env = "BOXOFFICE_RATE_LIMITS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// API requests a minute per signed-in user (routes without a stricter limit).
    #[arg(long, env = "BOXOFFICE_LIMIT_API_USER", default_value_t = 1_200)]
    pub limit_api_user: u32,

    /// API requests a minute per client address (routes without a stricter limit).
    #[arg(long, env = "BOXOFFICE_LIMIT_API_IP", default_value_t = 3_000)]
    pub limit_api_ip: u32,

    /// `reserve`, `book` and `queue/join` calls a minute per user (each its own bucket).
    #[arg(long, env = "BOXOFFICE_LIMIT_BOOKING_USER", default_value_t = 60)]
    pub limit_booking_user: u32,

    /// `reserve`, `book` and `queue/join` calls a minute per client address.
    #[arg(long, env = "BOXOFFICE_LIMIT_BOOKING_IP", default_value_t = 600)]
    pub limit_booking_ip: u32,

    /// Login attempts a minute per client address.
    #[arg(long, env = "BOXOFFICE_LIMIT_LOGIN_IP", default_value_t = 30)]
    pub limit_login_ip: u32,

    /// Login attempts a minute per account (whatever the address).
    #[arg(long, env = "BOXOFFICE_LIMIT_LOGIN_ACCOUNT", default_value_t = 10)]
    pub limit_login_account: u32,

    /// Registrations a minute per client address.
    #[arg(long, env = "BOXOFFICE_LIMIT_REGISTER_IP", default_value_t = 10)]
    pub limit_register_ip: u32,

    /// Addresses of load balancers whose `X-Forwarded-For` names the client (comma-separated).
    #[arg(long, env = "BOXOFFICE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// Most buckets a node keeps in memory (embedded default, or while Redis is unreachable).
    #[arg(
        long = "limit-local-buckets",
        env = "BOXOFFICE_LIMIT_LOCAL_BUCKETS",
        default_value_t = 100_000
    )]
    pub max_local_buckets: usize,
}

fn per_minute(n: u32) -> Policy {
    if n == 0 {
        return Policy::OFF;
    }
    Policy {
        per_minute: n,
        burst: (n / 4).max(3),
    }
}

impl RateLimitConfig {
    /// Everything off (the black-box tests that are not about limits).
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::defaults()
        }
    }

    /// The defaults the flags have.
    pub fn defaults() -> Self {
        Self {
            enabled: true,
            limit_api_user: 1_200,
            limit_api_ip: 3_000,
            limit_booking_user: 60,
            limit_booking_ip: 600,
            limit_login_ip: 30,
            limit_login_account: 10,
            limit_register_ip: 10,
            trusted_proxies: Vec::new(),
            max_local_buckets: 100_000,
        }
    }

    /// The limit of `class` per user, per address or (login) per account.
    pub(super) fn policy(&self, class: Class, by_ip: bool, by_account: bool) -> Policy {
        per_minute(match (class, by_ip, by_account) {
            (Class::Login, _, true) => self.limit_login_account,
            (_, _, true) => 0,
            (Class::Login, true, _) => self.limit_login_ip,
            (Class::Register, true, _) => self.limit_register_ip,
            (Class::Login | Class::Register, false, _) => 0,
            (Class::Reserve | Class::Book | Class::QueueJoin, false, _) => self.limit_booking_user,
            (Class::Reserve | Class::Book | Class::QueueJoin, true, _) => self.limit_booking_ip,
            (Class::Api, false, _) => self.limit_api_user,
            (Class::Api, true, _) => self.limit_api_ip,
        })
    }
}
