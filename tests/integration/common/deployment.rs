//! A deployment as an operator runs one: `boxoffice serve` node processes (the test binary's
//! own build) on one PostgreSQL database, Redis prefix and NATS stream of the test's own, behind
//! a real nginx started from `deploy/nginx.conf`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::app::{nats_url, redis_url};
use super::postgres::PgDatabase;
use super::services::{free_port, wait_for_port};
use super::unique;

/// One `boxoffice serve` process.
pub struct NodeProcess {
    pub port: u16,
    child: Child,
    _data_dir: tempfile::TempDir,
}

impl NodeProcess {
    /// Starts a node with `env` (its own port and data dir added) and waits until it answers
    /// `/readyz` (database, Redis and NATS reached).
    pub async fn start(env: &[(String, String)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
            .args(["serve", "--no-demo"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BOXOFFICE_BIND", format!("127.0.0.1:{port}"))
            .env("BOXOFFICE_DATA_DIR", data_dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start boxoffice");
        let node = Self {
            port,
            child,
            _data_dir: data_dir,
        };
        node.until_ready().await;
        node
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn until_ready(&self) {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base());
        for _ in 0..300 {
            let ready = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("node on port {} never became ready", self.port);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the node dies at once, mid-whatever it was doing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as an orchestrator stops a node.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `within` for the process to exit; its exit status.
    pub async fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx (the Debian package) in front of `nodes`, configured by the repository's
/// `deploy/nginx.conf` with the compose service names replaced by the nodes' addresses.
pub struct Nginx {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub async fn start(nodes: &[u16]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"),
        )
        .expect("deploy/nginx.conf");
        let config = Self::adapt(&shipped, nodes, port, dir.path());
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        let prefix = dir.path().display().to_string();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&file)
            .arg("-g")
            .arg(format!(
                "daemon off; pid {prefix}/nginx.pid; error_log {prefix}/error.log warn;"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx)");
        assert!(wait_for_port(port).await, "nginx listens on {port}");
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// The shipped configuration with `node1:8080`… replaced by `127.0.0.1:<port>`, the public
    /// listener on loopback, and nginx's working files in `dir`.
    fn adapt(shipped: &str, nodes: &[u16], port: u16, dir: &Path) -> String {
        let upstream = nodes
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=3 fail_timeout=5s;\n"))
            .collect::<String>();
        let mut out = String::new();
        let mut servers_written = false;
        for line in shipped.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("server node") {
                if !servers_written {
                    out.push_str(&upstream);
                    servers_written = true;
                }
                continue;
            }
            if trimmed == "listen 80;" {
                out.push_str(&format!("        listen 127.0.0.1:{port};\n"));
                continue;
            }
            out.push_str(line);
            out.push('\n');
            if trimmed == "http {" {
                for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                    out.push_str(&format!("    {temp}_temp_path {}/{temp};\n", dir.display()));
                }
            }
        }
        assert!(servers_written, "deploy/nginx.conf names no node1 server");
        assert!(
            out.contains(&format!("listen 127.0.0.1:{port};")),
            "deploy/nginx.conf has no `listen 80;`"
        );
        out
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers and exits (SIGKILL would orphan the workers).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..40 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Several node processes of one deployment (PostgreSQL, Redis, NATS of the test's own) behind
/// nginx.
pub struct Deployment {
    pub database: PgDatabase,
    pub env: Vec<(String, String)>,
    pub nodes: Vec<NodeProcess>,
    pub nginx: Option<Nginx>,
}

impl Deployment {
    /// `n` nodes started at once (they migrate under the advisory lock together), emails to
    /// `smtp_url`, then nginx in front of them.
    pub async fn start(n: usize, smtp_url: &str) -> Self {
        let mut deployment = Self::without_balancer(n, smtp_url).await;
        let ports: Vec<u16> = deployment.nodes.iter().map(|n| n.port).collect();
        deployment.nginx = Some(Nginx::start(&ports).await);
        deployment
    }

    /// The balancer's address.
    pub fn base(&self) -> String {
        self.nginx.as_ref().expect("a deployment with nginx").base()
    }

    /// `n` nodes, no balancer.
    pub async fn without_balancer(n: usize, smtp_url: &str) -> Self {
        let database = PgDatabase::create().await;
        let tag = unique();
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", database.url.clone()),
            ("BOXOFFICE_DB_MAX_CONNECTIONS", "8".into()),
            ("REDIS_URL", redis_url()),
            ("BOXOFFICE_REDIS_PREFIX", format!("t{tag}")),
            ("NATS_URL", nats_url()),
            ("BOXOFFICE_NATS_STREAM", format!("T{tag}")),
            ("BOXOFFICE_NATS_SUBJECT_PREFIX", format!("t{tag}")),
            ("SMTP_URL", smtp_url.to_owned()),
            (
                "BOXOFFICE_JWT_SECRET",
                format!("cluster-test-secret-{tag}-0123456789"),
            ),
            // The deployment's balancer; limits are off so one test client is not throttled.
            ("BOXOFFICE_TRUSTED_PROXIES", "127.0.0.1".into()),
            ("BOXOFFICE_RATE_LIMITS", "false".into()),
            // A debug build: cheap password hashes keep sign-ups quick.
            ("BOXOFFICE_ARGON2_MEMORY_KIB", "1024".into()),
            ("BOXOFFICE_ARGON2_ITERATIONS", "1".into()),
            ("BOXOFFICE_SHUTDOWN_GRACE_SECONDS", "10".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let nodes = futures::future::join_all((0..n).map(|_| NodeProcess::start(&env))).await;
        Self {
            database,
            env,
            nodes,
            nginx: None,
        }
    }
}
