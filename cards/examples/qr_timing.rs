//! Times the QR steps of issuing a card: `cargo run --release -p kiroku-cards --example qr_timing`.
fn main() {
    let jws = "x".repeat(844);
    let text = kiroku_cards::qr::shc_text(&jws);
    let n: u32 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let t = std::time::Instant::now();
    let mut code = None;
    for _ in 0..n {
        code = Some(kiroku_cards::qr::shc_code(&text).unwrap());
    }
    let code = code.unwrap();
    println!(
        "shc_code {:?} (version {})",
        t.elapsed() / n,
        kiroku_cards::qr::version(&code)
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(kiroku_cards::qr::png(&code, 5));
    }
    println!(
        "png {:?}, {} bytes",
        t.elapsed() / n,
        kiroku_cards::qr::png(&code, 5).len()
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(kiroku_cards::qr::svg(&code));
    }
    println!(
        "svg {:?}, {} bytes",
        t.elapsed() / n,
        kiroku_cards::qr::svg(&code).len()
    );
}
