//! The `boxoffice` command: `serve | migrate | seed | admin`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use boxoffice::app::AppState;
use boxoffice::auth::{store as users, Email, Role};
use boxoffice::config::{ServeConfig, StorageConfig};
use boxoffice::server::{shutdown_signal, Application};
use boxoffice::store::Db;

/// jemalloc with a background thread that returns freed memory to the system within about a
/// second (`.cargo/config.toml` sets its `malloc_conf`), even while the server is idle: glibc's
/// malloc keeps it in per-thread arenas, so RSS stayed high after a burst of big answers or
/// logins (figures in docs/BENCHMARKS.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "Ticket booking for movies and concerts"
)]
struct Cli {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "BOXOFFICE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP service (the embedded default when no DATABASE_URL is set).
    Serve(ServeConfig),
    /// Apply pending database migrations and exit.
    Migrate(StorageConfig),
    /// Load data into the database: `seed --demo` loads the demo cities, venues, events,
    /// shows and accounts.
    Seed(ServeConfig),
    /// Rebuild this node's search index from the database.
    Reindex(ServeConfig),
    /// Run an onsale benchmark against a running server.
    Bench(boxoffice::bench::BenchConfig),
    /// Print the OpenAPI 3.1 document of the API (as `GET /api/v1/openapi.json` serves it).
    Openapi,
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account (or grant admin to an existing one, resetting its password).
    Create {
        #[arg(long)]
        email: String,
        /// The password; read from BOXOFFICE_ADMIN_PASSWORD when not given.
        #[arg(long, env = "BOXOFFICE_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
        #[command(flatten)]
        config: ServeConfig,
    },
}

fn init_tracing(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colour codes only for a person at a terminal, never into files or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    match cli.command {
        Command::Serve(config) => serve(config).await,
        Command::Bench(config) => boxoffice::bench::run(config).await,
        Command::Openapi => {
            println!("{}", boxoffice::router::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Reindex(config) => {
            let state = open_state(&config).await?;
            let dir = config.storage.data_dir.join("search-index");
            let index = std::sync::Arc::new(
                boxoffice::search::SearchIndex::open(Some(&dir))
                    .context("cannot open the search index (is a server using this data dir?)")?,
            );
            let n = boxoffice::search::rebuild(&state.db, &index, &dir).await?;
            println!("search index rebuilt: {n} shows in {}", dir.display());
            Ok(())
        }
        Command::Migrate(storage) => {
            let db = Db::connect(&storage).await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.backend().as_str());
            Ok(())
        }
        Command::Seed(config) => {
            if !config.demo {
                anyhow::bail!("nothing to seed: pass --demo");
            }
            let state = open_state(&config).await?;
            boxoffice::demo::seed(&state).await?;
            print_demo_accounts();
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    name,
                    config,
                },
        } => {
            let state = open_state(&config).await?;
            let email = Email::parse(&email).map_err(anyhow::Error::msg)?;
            if password.chars().count() < 12 {
                anyhow::bail!("an admin password needs at least 12 characters");
            }
            let hash = state.passwords.hash(password).await?;
            let user_id =
                match users::create_user(&state.db, &email, &name, &hash, &[Role::Admin]).await? {
                    Some(user) => user.user_id,
                    None => {
                        let (id, _) = users::credentials(&state.db, &email.normalised)
                            .await?
                            .context("user vanished")?;
                        users::set_password(&state.db, id, &hash).await?;
                        users::grant_role(&state.db, id, Role::Admin).await?;
                        id
                    }
                };
            println!("admin {} ready (user_id {user_id})", email.display);
            Ok(())
        }
    }
}

async fn open_state(config: &ServeConfig) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.storage).await?;
    db.migrate().await?;
    AppState::new(db, config).await
}

fn print_demo_accounts() {
    println!("demo accounts:");
    for (email, password, _, roles) in boxoffice::demo::ACCOUNTS {
        let role = roles.first().map(|r| r.as_str()).unwrap_or("visitor");
        println!("  {role:<12} {email}  password: {password}");
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let backend = match &config.storage.database_url {
        Some(url) => format!("PostgreSQL {}", url.redacted()),
        None => format!("embedded SQLite in {}", config.storage.data_dir.display()),
    };
    let app = Application::build(config).await?;
    let demo = boxoffice::demo::present(&app.state().db).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, backend = %backend, "boxoffice listening");
    println!("boxoffice is running on {backend}");
    println!("  web app: http://{addr}/");
    println!("  API:     http://{addr}/api/v1/shows");
    println!("  health:  http://{addr}/healthz");
    if demo {
        print_demo_accounts();
    }
    app.run_until(shutdown_signal()).await
}
