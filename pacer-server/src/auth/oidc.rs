//! OpenID Connect sign-in: authorization code with PKCE (S256), a one-time `state`
//! bound to the browser's flow and a `nonce` bound into the ID token; the ID token is verified
//! against the issuer's published keys (signature, issuer, audience, expiry, nonce); access is
//! granted by allowlists of emails, email domains or group claims, to an email the provider
//! marked verified unless the operator turned that requirement off. Every refusal is audited as
//! `auth.oidc.login_denied` and shown to the browser as a short error code.

use crate::secrets::random_token;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Pending flows expire after this long.
const FLOW_TTL_MS: i64 = 10 * 60 * 1_000;
/// Pending flows kept at most (anyone can start one); the oldest makes room for a new one.
const MAX_FLOWS: usize = 10_000;

/// How Pacer signs users in through an OpenID Connect provider (`auth.oidc.*`).
#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// The issuer URL; discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// Client secret (empty = public client, PKCE only).
    pub client_secret: String,
    /// Where the provider sends the browser back.
    pub redirect_url: String,
    /// Allowed emails.
    pub allowed_emails: Vec<String>,
    /// Allowed email domains.
    pub allowed_domains: Vec<String>,
    /// Groups (from `groups_claim`) whose members may sign in.
    pub allowed_groups: Vec<String>,
    /// The claim carrying groups.
    pub groups_claim: String,
    /// The scopes requested (`openid` among them).
    pub scopes: Vec<String>,
    /// Refuse an email without `email_verified: true` (`email_unverified`).
    pub require_email_verified: bool,
}

#[derive(Clone, Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Flow {
    nonce: String,
    verifier: String,
    expires_at: i64,
}

/// Why a sign-in was refused; the code goes to `/login?error=<code>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// Unknown, reused or expired state.
    #[error("bad_state")]
    BadState,
    /// The ID token's nonce is not the flow's.
    #[error("bad_nonce")]
    BadNonce,
    /// The provider reported an error.
    #[error("provider_error")]
    Provider(String),
    /// Exchanging the code failed (e.g. a replayed code).
    #[error("code_exchange_failed")]
    CodeExchange(String),
    /// The ID token did not verify.
    #[error("invalid_token")]
    InvalidToken(String),
    /// The token has no email, or (as required) the provider did not mark it verified.
    #[error("email_unverified")]
    EmailUnverified,
    /// Not on any allowlist.
    #[error("not_allowed")]
    NotAllowed(String),
    /// An operator disabled this user.
    #[error("disabled")]
    Disabled(String),
}

impl OidcError {
    /// The short code shown to the browser.
    pub fn code(&self) -> String {
        self.to_string()
    }

    /// Detail for the audit log.
    pub fn detail(&self) -> String {
        match self {
            OidcError::Provider(d)
            | OidcError::CodeExchange(d)
            | OidcError::InvalidToken(d)
            | OidcError::NotAllowed(d)
            | OidcError::Disabled(d) => format!("{self}: {d}"),
            other => other.to_string(),
        }
    }
}

/// The verified identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The `email` claim (marked verified by the provider, unless that is not required).
    pub email: String,
    /// The groups named by the configured groups claim (empty when absent).
    pub groups: Vec<String>,
}

/// An OIDC client.
pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    flows: Mutex<HashMap<String, Flow>>,
    discovery: tokio::sync::OnceCell<Discovery>,
}

fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: String,
}

impl Oidc {
    /// A client for `settings`.
    pub fn new(settings: OidcSettings) -> anyhow::Result<Oidc> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Oidc {
            settings,
            http,
            flows: Mutex::new(HashMap::new()),
            discovery: tokio::sync::OnceCell::new(),
        })
    }

    async fn discovery(&self) -> Result<&Discovery, OidcError> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let answer =
                    self.http.get(&url).send().await.map_err(|e| OidcError::Provider(e.to_string()))?;
                answer.json::<Discovery>().await.map_err(|e| OidcError::Provider(e.to_string()))
            })
            .await
    }

    /// Starts a flow: the provider URL to send the browser to, and the `state` to bind to it.
    pub async fn start(&self, now_ms: i64, login_hint: Option<&str>) -> Result<(String, String), OidcError> {
        let discovery = self.discovery().await?;
        let (state, nonce, verifier) = (random_token(), random_token(), random_token());
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| OidcError::Provider(e.to_string()))?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", &self.settings.redirect_url)
                .append_pair("scope", &self.settings.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
                query.append_pair("login_hint", hint);
            }
        }
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        flows.retain(|_, f| f.expires_at > now_ms);
        if flows.len() >= MAX_FLOWS {
            // Anyone may start a flow: the oldest pending one makes room.
            let oldest = flows.iter().min_by_key(|(_, f)| f.expires_at).map(|(k, _)| k.clone());
            flows.remove(&oldest.unwrap_or_default());
        }
        flows.insert(state.clone(), Flow { nonce, verifier, expires_at: now_ms + FLOW_TTL_MS });
        Ok((url.into(), state))
    }

    /// Finishes a flow from the callback's `state` and `code`: the verified, allowed identity.
    pub async fn finish(&self, now_ms: i64, state: &str, code: &str) -> Result<Identity, OidcError> {
        let flow = self
            .flows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .filter(|f| f.expires_at > now_ms)
            .ok_or(OidcError::BadState)?;
        let discovery = self.discovery().await?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.settings.redirect_url)
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("code_verifier", &flow.verifier)
            .finish();
        let mut request = self
            .http
            .post(&discovery.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        if !self.settings.client_secret.is_empty() {
            request = request.basic_auth(&self.settings.client_id, Some(&self.settings.client_secret));
        }
        let answer = request.send().await.map_err(|e| OidcError::CodeExchange(e.to_string()))?;
        if !answer.status().is_success() {
            let status = answer.status();
            let body = answer.text().await.unwrap_or_default();
            return Err(OidcError::CodeExchange(format!(
                "{status}: {}",
                body.chars().take(200).collect::<String>()
            )));
        }
        let tokens: TokenAnswer = answer.json().await.map_err(|e| OidcError::CodeExchange(e.to_string()))?;
        self.verify(discovery, &tokens.id_token, &flow.nonce).await
    }

    async fn verify(
        &self,
        discovery: &Discovery,
        id_token: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError> {
        let invalid = |e: &dyn std::fmt::Display| OidcError::InvalidToken(e.to_string());
        let header = jsonwebtoken::decode_header(id_token).map_err(|e| invalid(&e))?;
        let keys: jsonwebtoken::jwk::JwkSet = self
            .http
            .get(&discovery.jwks_uri)
            .send()
            .await
            .map_err(|e| invalid(&e))?
            .json()
            .await
            .map_err(|e| invalid(&e))?;
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None => keys.keys.first(),
        }
        .ok_or_else(|| OidcError::InvalidToken("no matching key".into()))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| invalid(&e))?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_issuer(&[&discovery.issuer]);
        validation.set_audience(&[&self.settings.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation)
            .map_err(|e| invalid(&e))?
            .claims;
        if claims["nonce"].as_str() != Some(nonce) {
            return Err(OidcError::BadNonce);
        }
        let email = claims["email"].as_str().unwrap_or_default().to_ascii_lowercase();
        let verified = claims["email_verified"].as_bool() == Some(true);
        if email.is_empty() || (self.settings.require_email_verified && !verified) {
            return Err(OidcError::EmailUnverified);
        }
        let claim =
            if self.settings.groups_claim.is_empty() { "groups" } else { &self.settings.groups_claim };
        let groups: Vec<String> = claims[claim]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect();
        let identity = Identity { email, groups };
        if self.allows(&identity) { Ok(identity) } else { Err(OidcError::NotAllowed(identity.email)) }
    }

    /// Whether the allowlists admit `identity`.
    pub fn allows(&self, identity: &Identity) -> bool {
        let s = &self.settings;
        let domain = identity.email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        s.allowed_emails.iter().any(|e| e.eq_ignore_ascii_case(&identity.email))
            || s.allowed_domains.iter().any(|d| d.trim_start_matches('@').eq_ignore_ascii_case(domain))
            || identity.groups.iter().any(|g| s.allowed_groups.contains(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(emails: &[&str], domains: &[&str], groups: &[&str]) -> Oidc {
        Oidc::new(OidcSettings {
            issuer: "http://127.0.0.1:1".into(),
            client_id: "console".into(),
            client_secret: String::new(),
            redirect_url: "http://127.0.0.1:2/auth/oidc/callback".into(),
            allowed_emails: emails.iter().map(|s| s.to_string()).collect(),
            allowed_domains: domains.iter().map(|s| s.to_string()).collect(),
            allowed_groups: groups.iter().map(|s| s.to_string()).collect(),
            groups_claim: "groups".into(),
            scopes: vec!["openid".into()],
            require_email_verified: true,
        })
        .expect("client")
    }

    #[test]
    fn allowlists() {
        let who = |email: &str, groups: &[&str]| Identity {
            email: email.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        assert!(oidc(&["Alice@Example.test"], &[], &[]).allows(&who("alice@example.test", &[])));
        assert!(oidc(&[], &["@example.test"], &[]).allows(&who("bob@example.test", &[])));
        assert!(!oidc(&[], &["example.test"], &[]).allows(&who("bob@evil.test", &[])));
        assert!(oidc(&[], &[], &["gha-admins"]).allows(&who("x@y.z", &["gha-admins"])));
        assert!(!oidc(&[], &[], &["gha-admins"]).allows(&who("x@y.z", &["engineering"])));
    }

    #[test]
    fn pkce_is_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
