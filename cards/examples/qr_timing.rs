//! Times the QR steps of issuing a card: `cargo run --release -p kiroku-cards --example qr_timing`.
fn main() {
    let jws = "x".repeat(844);
    let text = kiroku_cards::qr::shc_text(&jws);
    let n = 100;
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
    println!("png {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(kiroku_cards::qr::svg(&code));
    }
    println!("svg {:?}", t.elapsed() / n);
}
