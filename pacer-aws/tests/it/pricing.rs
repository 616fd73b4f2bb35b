//! Prices: on-demand from the pricing stub (and its 24 h cache), spot from moto, and every
//! failure answering "no quote".

use crate::peers::Aws;
use pacer_aws::{Compute, Ec2Compute, Ec2Settings};
use pacer_domain::{Market, Micros, PriceSource};

#[tokio::test]
async fn on_demand_prices_come_from_the_pricing_api_and_are_cached() {
    let mut aws = Aws::start().with_pricing();
    let compute = aws.compute().await;
    let quote = compute.price("m5.large", "us-east-1a", Market::OnDemand).await.expect("quote");
    assert_eq!(quote.per_hour, Micros(96_000));
    assert_eq!(quote.source, PriceSource::OnDemandList);
    let c5 = compute.price("c5.large", "", Market::OnDemand).await.expect("quote");
    assert_eq!(c5.per_hour, Micros(85_000));
    assert_eq!(compute.price("x9.huge", "us-east-1a", Market::OnDemand).await, None, "unknown type");
    // Cached: the API going away does not lose a known price.
    if let Some(pricing) = aws.pricing.as_mut() {
        pricing.stop();
    }
    assert_eq!(compute.price("m5.large", "us-east-1b", Market::OnDemand).await, Some(quote));
    assert_eq!(compute.price("t3.micro", "us-east-1a", Market::OnDemand).await, None, "not cached, API down");
}

#[tokio::test]
async fn spot_prices_come_from_spot_price_history() {
    let aws = Aws::start();
    let compute = aws.compute().await;
    let quote = compute.price("m5.large", "us-east-1a", Market::Spot).await.expect("quote");
    assert_eq!(quote.source, PriceSource::SpotHistory);
    assert_eq!(quote.per_hour, Micros(10), "moto's constant spot price is $0.00001");
}

#[tokio::test]
async fn pricing_failures_are_no_quote() {
    let mut aws = Aws::start();
    let sdk = aws.sdk_config().await;
    // A pricing endpoint nobody listens on.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let settings = Ec2Settings { pricing_endpoint_url: Some(dead), ..aws.settings() };
    let compute = Ec2Compute::from_sdk_config(&sdk, settings);
    assert_eq!(compute.price("m5.large", "us-east-1a", Market::OnDemand).await, None);
    // A region with no pricing location.
    let elsewhere =
        Ec2Compute::from_sdk_config(&sdk, Ec2Settings { region: "xx-nowhere-1".into(), ..aws.settings() });
    assert_eq!(elsewhere.price("m5.large", "", Market::OnDemand).await, None);
    // EC2 down: no spot quote either.
    aws.moto.stop();
    assert_eq!(compute.price("m5.large", "us-east-1a", Market::Spot).await, None);
}
