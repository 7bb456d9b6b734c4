//! Access and refresh JWTs.
//!
//! Both kinds are signed with `SECRET_KEY` using the configured HMAC
//! algorithm; decoding accepts that algorithm only, whatever the token's
//! header says, and `SECRET_KEY` or `SECRET_KEY_PREVIOUS`, so a rotated key
//! logs no one out. A `typ` claim tells the kinds apart, so a refresh token is
//! never accepted where an access token is expected, and vice versa.

use chrono::{Duration, Utc};
use domain::UserId;
use infra::{JwtAlgorithm, config::AuthSettings};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use persistence::NewRefreshToken;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// The two kinds of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// The claims both kinds carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's internal id, as a string (RFC 7519).
    pub sub: String,
    /// Expiry and issue time, seconds since the epoch.
    pub exp: i64,
    pub iat: i64,
    /// Unique id of this token.
    pub jti: Uuid,
    /// Access or refresh.
    pub typ: TokenKind,
    /// The refresh family (one per login) this token belongs to.
    pub fid: Uuid,
}

/// An authenticated caller, from a valid access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    /// The login session, revoked as a whole by logout.
    pub family_id: Uuid,
}

/// What login and refresh hand out.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Login only: the token that makes this client one the account knows
    /// (login limits never cap it) when sent back at the next login.
    pub device_token: Option<String>,
}

/// A freshly signed pair and its refresh token's row, to be stored.
#[derive(Debug, Clone)]
pub(crate) struct IssuedPair {
    pub pair: TokenPair,
    pub refresh: NewRefreshToken,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct TokenService {
    algorithm: Algorithm,
    encoding: EncodingKey,
    /// `SECRET_KEY`'s, then `SECRET_KEY_PREVIOUS`'s when set.
    decoding: Vec<DecodingKey>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// How long a login lasts from its start (`SESSION_MAX_DAYS`).
    session_max: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("algorithm", &self.algorithm)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.secret_key.expose().as_bytes();
        Self {
            algorithm: match settings.jwt_algorithm {
                JwtAlgorithm::HS256 => Algorithm::HS256,
                JwtAlgorithm::HS384 => Algorithm::HS384,
                JwtAlgorithm::HS512 => Algorithm::HS512,
            },
            encoding: EncodingKey::from_secret(secret),
            decoding: std::iter::once(&settings.secret_key)
                .chain(&settings.secret_key_previous)
                .map(|key| DecodingKey::from_secret(key.expose().as_bytes()))
                .collect(),
            access_ttl: Duration::minutes(i64::from(settings.jwt_expire_minutes)),
            refresh_ttl: Duration::days(i64::from(settings.refresh_token_expire_days)),
            session_max: Duration::days(i64::from(settings.session_max_days)),
        }
    }

    /// Whether a login that began `started_at` has ended.
    pub(crate) fn login_expired(&self, started_at: chrono::DateTime<Utc>) -> bool {
        started_at <= self.oldest_live_login()
    }

    /// Logins that began at or before this instant have ended
    /// (`SESSION_MAX_DAYS`).
    pub(crate) fn oldest_live_login(&self) -> chrono::DateTime<Utc> {
        Utc::now() - self.session_max
    }

    /// Signs a new access + refresh pair for `user` in login family
    /// `family_id`, which began `started_at`: the refresh token expires with
    /// the login at the latest.
    pub(crate) fn issue(
        &self,
        user: UserId,
        family_id: Uuid,
        started_at: chrono::DateTime<Utc>,
    ) -> Result<IssuedPair> {
        let now = Utc::now();
        let claims = |typ, jti, expires_at: chrono::DateTime<Utc>| Claims {
            sub: user.to_string(),
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            jti,
            typ,
            fid: family_id,
        };
        let refresh = NewRefreshToken {
            jti: Uuid::new_v4(),
            family_id,
            family_started_at: started_at,
            user_id: user,
            expires_at: (now + self.refresh_ttl).min(started_at + self.session_max),
        };
        let pair = TokenPair {
            device_token: None,
            access_token: self.sign(&claims(
                TokenKind::Access,
                Uuid::new_v4(),
                now + self.access_ttl,
            ))?,
            refresh_token: self.sign(&claims(
                TokenKind::Refresh,
                refresh.jti,
                refresh.expires_at,
            ))?,
        };
        Ok(IssuedPair { pair, refresh })
    }

    fn sign(&self, claims: &Claims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, &self.encoding).map_err(|err| {
            Error::Crypto {
                context: "token signing failed",
                source: Box::new(err),
            }
        })
    }

    /// Checks signature, algorithm, expiry and kind. Any failure is `None`:
    /// callers answer every bad token the same way.
    pub fn decode(&self, token: &str, kind: TokenKind) -> Option<Claims> {
        let mut validation = Validation::new(self.algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Clocks of one deployment agree closely; a long leeway would stretch
        // the short life of access tokens.
        validation.leeway = 5;
        let claims = self
            .decoding
            .iter()
            .find_map(|key| jsonwebtoken::decode::<Claims>(token, key, &validation).ok())?
            .claims;
        (claims.typ == kind).then_some(claims)
    }

    /// The caller an access token stands for.
    pub fn authenticate(&self, access_token: &str) -> Option<Caller> {
        let claims = self.decode(access_token, TokenKind::Access)?;
        Some(Caller {
            user_id: UserId(claims.sub.parse().ok()?),
            family_id: claims.fid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(vars: &[(&str, &str)]) -> TokenService {
        TokenService::new(
            &infra::Settings::from_vars(vars.iter().copied())
                .unwrap()
                .auth,
        )
    }

    #[test]
    fn access_tokens_authenticate_and_refresh_tokens_do_not() {
        let tokens = service(&[]);
        let family = Uuid::new_v4();
        let issued = tokens.issue(UserId(42), family, Utc::now()).unwrap();
        let caller = tokens.authenticate(&issued.pair.access_token).unwrap();
        assert_eq!(
            caller,
            Caller {
                user_id: UserId(42),
                family_id: family
            }
        );
        assert!(tokens.authenticate(&issued.pair.refresh_token).is_none());
        let refresh = tokens
            .decode(&issued.pair.refresh_token, TokenKind::Refresh)
            .unwrap();
        assert_eq!(refresh.jti, issued.refresh.jti);
        assert!(
            tokens
                .decode(&issued.pair.access_token, TokenKind::Refresh)
                .is_none()
        );
    }

    #[test]
    fn a_refresh_token_expires_with_its_login_at_the_latest() {
        let tokens = service(&[
            ("REFRESH_TOKEN_EXPIRE_DAYS", "7"),
            ("SESSION_MAX_DAYS", "30"),
        ]);
        let fresh = tokens.issue(UserId(1), Uuid::new_v4(), Utc::now()).unwrap();
        let week = fresh.refresh.expires_at - Utc::now();
        assert!(week > Duration::days(7) - Duration::minutes(1) && week <= Duration::days(7));
        // A login that began 29 days ago has a day left: so has its token.
        let started = Utc::now() - Duration::days(29);
        let late = tokens.issue(UserId(1), Uuid::new_v4(), started).unwrap();
        assert_eq!(late.refresh.expires_at, started + Duration::days(30));
        assert!(!tokens.login_expired(started));
        assert!(tokens.login_expired(Utc::now() - Duration::days(30)));
    }

    #[test]
    fn access_tokens_are_short_lived() {
        let tokens = service(&[("JWT_EXPIRE_MINUTES", "15")]);
        let issued = tokens.issue(UserId(1), Uuid::new_v4(), Utc::now()).unwrap();
        let claims = tokens
            .decode(&issued.pair.access_token, TokenKind::Access)
            .unwrap();
        assert_eq!(claims.exp - claims.iat, 15 * 60);
    }

    #[test]
    fn tokens_from_another_key_or_algorithm_are_rejected() {
        let ours = service(&[]);
        let theirs = service(&[("SECRET_KEY", "another-secret-another-secret-xx")]);
        let forged = theirs.issue(UserId(1), Uuid::new_v4(), Utc::now()).unwrap();
        assert!(ours.authenticate(&forged.pair.access_token).is_none());

        let hs512 = service(&[("JWT_ALGORITHM", "HS512")]);
        let other_alg = hs512.issue(UserId(1), Uuid::new_v4(), Utc::now()).unwrap();
        assert!(ours.authenticate(&other_alg.pair.access_token).is_none());
        assert!(hs512.authenticate(&other_alg.pair.access_token).is_some());
    }

    #[test]
    fn expired_and_garbage_tokens_are_rejected() {
        let tokens = service(&[]);
        let expired = tokens
            .sign(&Claims {
                sub: "1".into(),
                exp: (Utc::now() - Duration::minutes(1)).timestamp(),
                iat: (Utc::now() - Duration::minutes(16)).timestamp(),
                jti: Uuid::new_v4(),
                typ: TokenKind::Access,
                fid: Uuid::new_v4(),
            })
            .unwrap();
        assert!(tokens.authenticate(&expired).is_none());
        assert!(tokens.authenticate("not.a.token").is_none());
        assert!(tokens.authenticate("").is_none());
    }
}
