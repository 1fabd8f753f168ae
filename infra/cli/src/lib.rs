//! `rhosync-admin`: the admin command line over the REST API (docs/rest-api.md), the
//! equivalent of RhoConnect's `rhoconnect get-token` / `set-admin-password` plus the admin
//! calls scripts use most. Every command is one or two HTTP calls; nothing here touches
//! storage directly, so it works the same against `infra/dev` and a deployed stack.
//!
//! [`Cli`] is the command line; [`run`] executes it and returns what to print.
//! [`import`] is `import-rhoconnect`: it also reads the old RhoConnect Redis, but writes
//! only through the REST API.

pub mod import;

use clap::{Parser, Subcommand};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot reach {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    /// The server refused: its status and plain-text message.
    #[error("{status}: {body}")]
    Refused { status: u16, body: String },
    #[error("{0}")]
    Usage(String),
    /// `import-rhoconnect` refused the old Redis (or a record in it); nothing was written.
    #[error("import refused: {0}")]
    Import(String),
}

#[derive(Debug, Parser)]
#[command(name = "rhosync-admin", version, about = "Admin command line for rhosync's REST API")]
pub struct Cli {
    /// Base URL of the server.
    #[arg(long, env = "RHOSYNC_URL", default_value = "http://127.0.0.1:9292", global = true)]
    pub server: String,
    /// API token; without one, commands log in with --login/--password first.
    #[arg(long, env = "RHOSYNC_API_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Admin login used to obtain a token.
    #[arg(long, env = "RHOSYNC_ADMIN_LOGIN", default_value = "rhoadmin", global = true)]
    pub login: String,
    /// Admin password used to obtain a token (empty by default, like a fresh server).
    #[arg(long, env = "RHOSYNC_ADMIN_PASSWORD", default_value = "", global = true, hide_env_values = true)]
    pub password: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and print the API token.
    GetToken,
    /// Change the admin password (the token stays the same).
    SetAdminPassword { new_password: String },
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Inspect and delete clients (devices).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Ping users' devices (queued; the push worker sends).
    Ping {
        /// Logins to ping.
        #[arg(required = true)]
        users: Vec<String>,
        /// Sources the devices should sync (repeatable; default all).
        #[arg(long = "source")]
        sources: Vec<String>,
        #[arg(long)]
        message: Option<String>,
        #[arg(long)]
        badge: Option<String>,
        #[arg(long)]
        sound: Option<String>,
        #[arg(long)]
        vibrate: Option<String>,
    },
    /// Delete all data and users; the admin password returns to its bootstrap value.
    Reset {
        /// Required, because there is no undo.
        #[arg(long)]
        yes: bool,
    },
    /// Import a running RhoConnect 7 (or RhoSync 3) deployment from its Redis: users with
    /// their passwords, admin API tokens, clients with their push registrations, source
    /// poll intervals and the app server URL (docs/migrating.md).
    ImportRhoconnect {
        /// The old deployment's Redis, e.g. redis://old-host:6379/0 (only read).
        #[arg(long)]
        redis: String,
        /// Read and count only; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Records per request.
        #[arg(long, default_value_t = 200)]
        batch: usize,
    },
    /// Print a document by its RhoConnect name, e.g. source:application:alice:Product:md.
    GetDoc { docname: String },
    /// Set a document: DATA is JSON (object map, array or string) or, with --string, text.
    SetDoc {
        docname: String,
        data: String,
        /// Merge into an object map / append to a list instead of replacing.
        #[arg(long)]
        append: bool,
        /// Store DATA as a plain string document.
        #[arg(long)]
        string: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List the app's users.
    List,
    /// Show one user's record.
    Show { user: String },
    /// Create a user.
    Create {
        user: String,
        /// The new user's password (empty when omitted).
        #[arg(long = "user-password", default_value = "")]
        user_password: String,
    },
    /// Delete a user, its clients and its documents.
    Delete { user: String },
    /// List a user's client ids.
    Clients { user: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Show one client's record.
    Show { client_id: String },
    /// Delete a client.
    Delete { user: String, client_id: String },
}

/// Characters left alone in a path segment (docnames keep their `:`).
const SEGMENT: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b':').remove(b'*');

fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<String, CliError> {
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let mut req = self.http.request(method, &url);
        if let Some(token) = token {
            req = req.header("X-RhoConnect-API-TOKEN", token);
        }
        if let Some(body) = body {
            req = req.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = req.send().await.map_err(|source| CliError::Http { url: url.clone(), source })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|source| CliError::Http { url, source })?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(CliError::Refused { status, body: text })
        }
    }
}

/// Runs one command; the result is what to print on stdout.
pub async fn run(cli: Cli) -> Result<String, CliError> {
    use reqwest::Method;
    let api = Api { http: reqwest::Client::new(), base: cli.server.clone() };
    let login_body = json!({"login": cli.login, "password": cli.password});
    let token = match (&cli.token, &cli.command) {
        (_, Command::GetToken) | (_, Command::ImportRhoconnect { dry_run: true, .. }) => None,
        (Some(t), _) => Some(t.clone()),
        (None, _) => Some(api.call(Method::POST, "/rc/v1/system/login", None, Some(login_body.clone())).await?),
    };
    let t = token.as_deref();
    match cli.command {
        Command::GetToken => api.call(Method::POST, "/rc/v1/system/login", None, Some(login_body)).await,
        Command::SetAdminPassword { new_password } => {
            let body = json!({"attributes": {"new_password": new_password}});
            api.call(Method::PUT, "/rc/v1/users/rhoadmin", t, Some(body)).await
        }
        Command::Users(cmd) => match cmd {
            UsersCommand::List => api.call(Method::GET, "/rc/v1/users", t, None).await,
            UsersCommand::Show { user } => {
                api.call(Method::GET, &format!("/rc/v1/users/{}", seg(&user)), t, None).await
            }
            UsersCommand::Create { user, user_password } => {
                let body = json!({"attributes": {"login": user, "password": user_password}});
                api.call(Method::POST, "/rc/v1/users", t, Some(body)).await
            }
            UsersCommand::Delete { user } => {
                api.call(Method::DELETE, &format!("/rc/v1/users/{}", seg(&user)), t, None).await
            }
            UsersCommand::Clients { user } => {
                api.call(Method::GET, &format!("/rc/v1/users/{}/clients", seg(&user)), t, None).await
            }
        },
        Command::Clients(cmd) => match cmd {
            ClientsCommand::Show { client_id } => {
                api.call(Method::GET, &format!("/rc/v1/clients/{}", seg(&client_id)), t, None).await
            }
            ClientsCommand::Delete { user, client_id } => {
                let path = format!("/rc/v1/users/{}/clients/{}", seg(&user), seg(&client_id));
                api.call(Method::DELETE, &path, t, None).await
            }
        },
        Command::Ping { users, sources, message, badge, sound, vibrate } => {
            let mut body = json!({"user_id": users});
            let fields = [("message", message), ("badge", badge), ("sound", sound), ("vibrate", vibrate)];
            for (name, value) in fields {
                if let Some(v) = value {
                    body[name] = json!(v);
                }
            }
            if !sources.is_empty() {
                body["sources"] = json!(sources);
            }
            api.call(Method::POST, "/rc/v1/users/ping", t, Some(body)).await
        }
        Command::Reset { yes } => {
            if !yes {
                return Err(CliError::Usage("reset deletes every user and document; pass --yes to confirm".into()));
            }
            api.call(Method::POST, "/rc/v1/system/reset", t, None).await
        }
        Command::ImportRhoconnect { redis, dry_run, batch } => {
            import::run(&redis, dry_run, batch, |body| api.call(Method::POST, "/rc/v1/system/import", t, Some(body)))
                .await
        }
        Command::GetDoc { docname } => api.call(Method::GET, &format!("/rc/v1/store/{}", seg(&docname)), t, None).await,
        Command::SetDoc { docname, data, append, string } => {
            let data = if string {
                Value::String(data)
            } else {
                serde_json::from_str(&data)
                    .map_err(|e| CliError::Usage(format!("DATA is not JSON ({e}); use --string for text")))?
            };
            let body = json!({"data": data, "append": append});
            api.call(Method::POST, &format!("/rc/v1/store/{}", seg(&docname)), t, Some(body)).await
        }
    }
}
