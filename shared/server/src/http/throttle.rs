//! The login throttle at the HTTP edge (the rules are `crate::auth::throttle`'s): where a
//! login attempt comes from, and admitting it or refusing it with 429.
//!
//! The source address, in order of trust:
//!
//! 1. on Lambda, the address API Gateway saw (the request context's `sourceIp`), which no
//!    client can forge;
//! 2. otherwise the last entry of `X-Forwarded-For` — the one the nearest proxy appended
//!    (earlier entries are whatever the client sent);
//! 3. otherwise the socket's peer address, when the server provides it (axum's
//!    `ConnectInfo`).
//!
//! The local runner provides neither 1 nor 3, so there an attempt is counted per address
//! only when it carries `X-Forwarded-For`, and per login always. IPv6 addresses are counted
//! per /64, the block one subscriber usually holds.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::HttpError;
use crate::auth::throttle::{self, Admission, Outcome, Ticket};
use crate::AppState;

/// Where a request came from, as the throttle counts it (`None`: unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAddr(pub Option<String>);

impl SourceAddr {
    /// The source of the request with these parts (see the module docs). A request that
    /// was rewritten internally (the legacy aliases) carries its original's as an extension.
    pub fn of(parts: &Parts) -> Self {
        if let Some(known) = parts.extensions.get::<SourceAddr>() {
            return known.clone();
        }
        let from_gateway = parts.extensions.get::<lambda_http::request::RequestContext>().and_then(|c| match c {
            lambda_http::request::RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
            lambda_http::request::RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
            _ => None,
        });
        let forwarded = || {
            let header = parts.headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
            header.rsplit(',').next().map(|s| s.trim().to_owned())
        };
        let peer = || parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Self(from_gateway.or_else(forwarded).or_else(peer).as_deref().and_then(counted_as))
    }
}

/// The name an address is counted under: the address itself, an IPv6 address's /64; `None`
/// for anything that is not an address.
fn counted_as(text: &str) -> Option<String> {
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).and_then(|t| t.parse().ok()))?;
    Some(match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4.to_string(),
    })
}

impl<S: Send + Sync> FromRequestParts<S> for SourceAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::of(parts))
    }
}

/// Admits a login attempt for `login` to its password check, or refuses it with 429.
pub async fn admit(state: &AppState, source: &SourceAddr, login: &str) -> Result<Ticket, HttpError> {
    let now = state.sync.clock.now_secs();
    match throttle::admit(&*state.throttle, now, login, source.0.as_deref()).await {
        Admission::Admitted(ticket) => Ok(ticket),
        Admission::Refused { retry_after_secs } => Err(HttpError::TooManyLogins { retry_after_secs }),
    }
}

/// Records how an admitted attempt ended: `failed` when the credentials were wrong.
pub async fn settle(state: &AppState, ticket: Ticket, failed: bool) {
    ticket.settle(&*state.throttle, if failed { Outcome::Failed } else { Outcome::Passed }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).map(|r| r.into_parts().0).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_nearest_proxys_entry_counts_and_ipv6_by_its_64() {
        assert_eq!(SourceAddr::of(&parts(&[])), SourceAddr(None));
        let forged = parts(&[("x-forwarded-for", "10.9.9.9, 203.0.113.7")]);
        assert_eq!(SourceAddr::of(&forged).0.as_deref(), Some("203.0.113.7"));
        let v6 = parts(&[("x-forwarded-for", "2001:db8:1:2:3:4:5:6")]);
        assert_eq!(SourceAddr::of(&v6).0.as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(counted_as("[::ffff:192.0.2.1]").as_deref(), Some("192.0.2.1"));
        assert_eq!(counted_as("192.0.2.1:443").as_deref(), Some("192.0.2.1"));
        assert_eq!(counted_as("not an address"), None);
        let mut peer = parts(&[]);
        peer.extensions
            .insert(ConnectInfo("198.51.100.3:5000".parse::<SocketAddr>().unwrap_or_else(|e| panic!("{e}"))));
        assert_eq!(SourceAddr::of(&peer).0.as_deref(), Some("198.51.100.3"));
        // On Lambda the address API Gateway saw wins over anything the client sent.
        let mut lambda = parts(&[("x-forwarded-for", "10.9.9.9")]);
        let mut context = lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some("192.0.2.9".into());
        lambda.extensions.insert(lambda_http::request::RequestContext::ApiGatewayV2(context));
        assert_eq!(SourceAddr::of(&lambda).0.as_deref(), Some("192.0.2.9"));
    }
}
