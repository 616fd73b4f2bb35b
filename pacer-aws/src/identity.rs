//! Instance identity documents: the proof an instance gives of who it is. Every EC2 instance can
//! read, from its own instance metadata only, a JSON document naming its account, region,
//! instance id and launch time, and AWS's RSA-SHA256 signature of it (IMDS
//! `dynamic/instance-identity/document` and `…/signature`). [`IdentityVerifier`] checks that
//! signature against AWS's certificate for the region, shipped in `data/identity/` (copied from
//! AWS's list of public certificates for instance identity document signatures), plus any
//! certificates the operator adds (a partition Pacer does not ship, or a test authority).
//! [`IdentitySigner`] plays AWS for the demo and for tests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

/// AWS's certificate for RSA-SHA256 identity signatures, per region.
const AWS_CERTIFICATES: &[(&str, &str)] = &[
    ("af-south-1", include_str!("../data/identity/af-south-1.pem")),
    ("ap-east-1", include_str!("../data/identity/ap-east-1.pem")),
    ("ap-east-2", include_str!("../data/identity/ap-east-2.pem")),
    ("ap-northeast-1", include_str!("../data/identity/ap-northeast-1.pem")),
    ("ap-northeast-2", include_str!("../data/identity/ap-northeast-2.pem")),
    ("ap-northeast-3", include_str!("../data/identity/ap-northeast-3.pem")),
    ("ap-south-1", include_str!("../data/identity/ap-south-1.pem")),
    ("ap-south-2", include_str!("../data/identity/ap-south-2.pem")),
    ("ap-southeast-1", include_str!("../data/identity/ap-southeast-1.pem")),
    ("ap-southeast-2", include_str!("../data/identity/ap-southeast-2.pem")),
    ("ap-southeast-3", include_str!("../data/identity/ap-southeast-3.pem")),
    ("ap-southeast-4", include_str!("../data/identity/ap-southeast-4.pem")),
    ("ap-southeast-5", include_str!("../data/identity/ap-southeast-5.pem")),
    ("ap-southeast-7", include_str!("../data/identity/ap-southeast-7.pem")),
    ("ca-central-1", include_str!("../data/identity/ca-central-1.pem")),
    ("ca-west-1", include_str!("../data/identity/ca-west-1.pem")),
    ("cn-north-1", include_str!("../data/identity/cn-north-1.pem")),
    ("cn-northwest-1", include_str!("../data/identity/cn-northwest-1.pem")),
    ("eu-central-1", include_str!("../data/identity/eu-central-1.pem")),
    ("eu-central-2", include_str!("../data/identity/eu-central-2.pem")),
    ("eu-north-1", include_str!("../data/identity/eu-north-1.pem")),
    ("eu-south-1", include_str!("../data/identity/eu-south-1.pem")),
    ("eu-south-2", include_str!("../data/identity/eu-south-2.pem")),
    ("eu-west-1", include_str!("../data/identity/eu-west-1.pem")),
    ("eu-west-2", include_str!("../data/identity/eu-west-2.pem")),
    ("eu-west-3", include_str!("../data/identity/eu-west-3.pem")),
    ("il-central-1", include_str!("../data/identity/il-central-1.pem")),
    ("me-central-1", include_str!("../data/identity/me-central-1.pem")),
    ("me-south-1", include_str!("../data/identity/me-south-1.pem")),
    ("mx-central-1", include_str!("../data/identity/mx-central-1.pem")),
    ("sa-east-1", include_str!("../data/identity/sa-east-1.pem")),
    ("us-east-1", include_str!("../data/identity/us-east-1.pem")),
    ("us-east-2", include_str!("../data/identity/us-east-2.pem")),
    ("us-gov-east-1", include_str!("../data/identity/us-gov-east-1.pem")),
    ("us-gov-west-1", include_str!("../data/identity/us-gov-west-1.pem")),
    ("us-west-1", include_str!("../data/identity/us-west-1.pem")),
    ("us-west-2", include_str!("../data/identity/us-west-2.pem")),
];

/// What a verified identity document says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceIdentity {
    /// The instance (`i-…`).
    pub instance_id: String,
    /// The AWS account it runs in.
    pub account_id: String,
    /// Its region.
    pub region: String,
    /// When it was launched (RFC 3339).
    pub pending_time: String,
}

/// Why an identity document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not base64, not JSON, or missing a field.
    #[error("malformed identity document: {0}")]
    Malformed(String),
    /// No trusted key signed it (forged or altered).
    #[error("the identity document's signature does not verify")]
    BadSignature,
    /// A certificate could not be read.
    #[error("bad identity certificate: {0}")]
    Certificate(String),
    /// No certificate is known for the region.
    #[error("no identity certificate for region {0}; add one with aws.identity_certificates")]
    NoCertificate(String),
    /// A genuine document of an instance in another region (regions share keys).
    #[error("the identity document is of region {0}")]
    WrongRegion(String),
}

/// Checks identity documents of one region against the keys trusted for it.
#[derive(Clone, Debug)]
pub struct IdentityVerifier {
    region: String,
    keys: Vec<VerifyingKey<Sha256>>,
}

/// The RSA public key of each certificate in a PEM bundle.
fn certificate_keys(pem: &str) -> Result<Vec<RsaPublicKey>, IdentityError> {
    let bad = |e: &dyn std::fmt::Display| IdentityError::Certificate(e.to_string());
    let mut keys = Vec::new();
    for block in pem.split_inclusive("-----END CERTIFICATE-----").filter(|b| b.contains("-----BEGIN")) {
        let start = block.find("-----BEGIN").unwrap_or(0);
        let certificate = Certificate::from_pem(&block[start..]).map_err(|e| bad(&e))?;
        let spki = certificate.tbs_certificate.subject_public_key_info.to_der().map_err(|e| bad(&e))?;
        keys.push(RsaPublicKey::from_public_key_der(&spki).map_err(|e| bad(&e))?);
    }
    Ok(keys)
}

impl IdentityVerifier {
    /// Trusts AWS's certificate for `region` (when Pacer ships one) and every certificate in
    /// `extra_pem` (a PEM bundle, possibly empty); at least one must be known.
    pub fn for_region(region: &str, extra_pem: &str) -> Result<Self, IdentityError> {
        let shipped = AWS_CERTIFICATES.iter().filter(|(r, _)| *r == region).map(|(_, pem)| *pem);
        let mut keys = Vec::new();
        for pem in shipped.chain(std::iter::once(extra_pem)) {
            keys.extend(certificate_keys(pem)?);
        }
        if keys.is_empty() {
            return Err(IdentityError::NoCertificate(region.to_owned()));
        }
        Ok(Self::trusting(region, keys))
    }

    /// Trusts exactly these keys for `region` (the demo's stand-in for AWS).
    pub fn trusting(region: &str, keys: Vec<RsaPublicKey>) -> Self {
        Self { region: region.to_owned(), keys: keys.into_iter().map(VerifyingKey::new).collect() }
    }

    /// The identity in `document_b64` (base64 of the document's exact bytes) if one trusted
    /// key signed it (`signature_b64`, base64 as IMDS serves it, line breaks allowed) and it is
    /// of this verifier's region.
    pub fn verify(&self, document_b64: &str, signature_b64: &str) -> Result<InstanceIdentity, IdentityError> {
        let decode = |text: &str, what: &str| {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            STANDARD
                .decode(compact)
                .map_err(|e| IdentityError::Malformed(format!("{what} is not base64: {e}")))
        };
        let document = decode(document_b64, "the document")?;
        let signature = Signature::try_from(decode(signature_b64, "the signature")?.as_slice())
            .map_err(|_| IdentityError::BadSignature)?;
        if !self.keys.iter().any(|key| key.verify(&document, &signature).is_ok()) {
            return Err(IdentityError::BadSignature);
        }
        let identity: InstanceIdentity =
            serde_json::from_slice(&document).map_err(|e| IdentityError::Malformed(e.to_string()))?;
        if identity.region != self.region {
            return Err(IdentityError::WrongRegion(identity.region));
        }
        Ok(identity)
    }
}

/// Signs identity documents the way AWS does, with its own key: the demo's instances and the
/// tests' fake instance metadata use it. Never trusted by a real server unless its public key
/// is configured.
#[derive(Clone, Debug)]
pub struct IdentitySigner {
    key: SigningKey<Sha256>,
    public: RsaPublicKey,
}

impl IdentitySigner {
    /// A signer with a fresh 2048-bit key.
    pub fn generate() -> Result<Self, IdentityError> {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| IdentityError::Certificate(format!("cannot generate a key: {e}")))?;
        let public = private.to_public_key();
        Ok(Self { key: SigningKey::new(private), public })
    }

    /// The key a verifier must trust.
    pub fn public_key(&self) -> RsaPublicKey {
        self.public.clone()
    }

    /// The document of `identity` and its signature, both base64, as an instance would send them.
    pub fn sign(&self, identity: &InstanceIdentity) -> (String, String) {
        let document = serde_json::to_vec_pretty(identity).unwrap_or_default();
        let signature = self.key.sign(&document).to_vec();
        (STANDARD.encode(document), STANDARD.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> InstanceIdentity {
        InstanceIdentity {
            instance_id: "i-0123456789abcdef0".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            pending_time: "2026-12-05T10:00:00Z".into(),
        }
    }

    #[test]
    fn every_shipped_certificate_holds_an_rsa_key() {
        for (region, pem) in AWS_CERTIFICATES {
            assert_eq!(certificate_keys(pem).map(|k| k.len()), Ok(1), "{region}");
            assert!(IdentityVerifier::for_region(region, "").is_ok(), "{region}");
        }
        assert_eq!(AWS_CERTIFICATES.len(), 37);
        assert_eq!(
            IdentityVerifier::for_region("xx-nowhere-1", "").err(),
            Some(IdentityError::NoCertificate("xx-nowhere-1".into()))
        );
    }

    #[test]
    fn a_signed_document_verifies_and_a_forged_or_altered_one_does_not() {
        let aws = IdentitySigner::generate().expect("key");
        let verifier = IdentityVerifier::trusting("us-east-1", vec![aws.public_key()]);
        let (document, signature) = aws.sign(&identity());
        assert_eq!(verifier.verify(&document, &signature), Ok(identity()));

        let forger = IdentitySigner::generate().expect("key");
        let (forged, forged_signature) = forger.sign(&identity());
        assert_eq!(verifier.verify(&forged, &forged_signature), Err(IdentityError::BadSignature));

        let other = InstanceIdentity { instance_id: "i-0fffffffffffffff0".into(), ..identity() };
        let (altered, _) = aws.sign(&other);
        assert_eq!(verifier.verify(&altered, &signature), Err(IdentityError::BadSignature));
        assert!(matches!(verifier.verify("not base64!", &signature), Err(IdentityError::Malformed(_))));

        let elsewhere = InstanceIdentity { region: "us-west-2".into(), ..identity() };
        let (document, signature) = aws.sign(&elsewhere);
        assert_eq!(
            verifier.verify(&document, &signature),
            Err(IdentityError::WrongRegion("us-west-2".into()))
        );
    }

    #[test]
    fn the_real_aws_key_is_not_fooled_by_a_test_key() {
        let verifier = IdentityVerifier::for_region("us-east-1", "").expect("shipped");
        let (document, signature) = IdentitySigner::generate().expect("key").sign(&identity());
        assert_eq!(verifier.verify(&document, &signature), Err(IdentityError::BadSignature));
    }
}
