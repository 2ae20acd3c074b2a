//! What plugins say reaches the server log and staff only without the
//! personal values the host handed them (containment, class 6). Plugins
//! are told never to log personal values; a hostile one would anyway, so:
//!
//! - every value the host served an invocation is remembered, in each of
//!   the host's normalised forms (compact width-folded, the name-search
//!   key, the digits alone); a log line or error message containing one is
//!   withheld, and so is a log line containing a value of the request,
//!   and an error message containing a request value that looks personal
//!   (four digits or more, or any non-ASCII letter): whoever sent a value,
//!   an error quoting it ends up in logs, screenshots and browser history;
//! - in log lines every digit is masked, however the digits are separated,
//!   and every non-ASCII character of a served value, so a value cannot be
//!   spelled out piece by piece either.
//!
//! The forms are computed only when the plugin writes something, so a
//! silent plugin pays nothing but keeping the values.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

/// What a withheld log line becomes.
pub const WITHHELD_LINE: &str = "[withheld: the line contained a personal value]";
/// What a withheld error message becomes.
pub const WITHHELD_MESSAGE: &str =
    "the plugin's message was withheld: it contained a personal value";

/// Shorter forms are not matched (a single character is not a value).
const MIN_FORM_CHARS: usize = 2;
/// Digits-only forms shorter than this are not matched.
const MIN_DIGIT_FORM: usize = 4;
/// Longer forms are matched by their first this many characters.
const MAX_FORM_CHARS: usize = 48;
/// Values one invocation's redactor keeps; past this it withholds every
/// line (a safe answer to an invocation that read half the town).
const MAX_VALUES: usize = 1_000_000;
/// Kanji numerals, masked like digits.
const KANJI_DIGITS: &str = "〇一二三四五六七八九十";

/// The served values of one invocation and the checks against them.
#[derive(Debug, Default)]
pub struct Redactor {
    input: Option<Arc<str>>,
    served: Forms,
    request: Forms,
    /// The request's values that look personal (see the module doc).
    request_personal: Forms,
}

/// Values and their forms.
#[derive(Debug, Default)]
struct Forms {
    pending: Vec<String>,
    forms: HashSet<String>,
    lengths: BTreeSet<usize>,
    chars: HashSet<char>,
    values: usize,
    overflow: bool,
}

impl Redactor {
    /// A redactor that also treats every value of `input` (the request) as
    /// personal.
    pub fn with_input(input: Arc<str>) -> Redactor {
        Redactor {
            input: Some(input),
            ..Redactor::default()
        }
    }

    /// Remembers a value the host handed the plugin.
    pub fn served(&mut self, value: &str) {
        self.served.add(value);
    }

    /// Turns the request's values into forms (once, when first needed).
    fn absorb_input(&mut self) {
        if let Some(input) = self.input.take() {
            for (value, in_file) in input_values(&input) {
                if looks_personal(&value, in_file) {
                    self.request_personal.add(&value);
                }
                self.request.add(&value);
            }
        }
    }

    /// Whether `text` contains a served value (or a value of the request,
    /// all of them or those that look personal) in any of its forms.
    fn contains(&mut self, text: &str, request: Request) -> bool {
        if request != Request::None {
            self.absorb_input();
        }
        let wide = nfkc(text);
        let digits: String = wide.chars().filter(char::is_ascii_digit).collect();
        let views = [
            compact(&wide),
            kiroku_rules::normalize::name_key(text),
            digits,
        ];
        let sets: &mut [&mut Forms] = match request {
            Request::All => &mut [&mut self.served, &mut self.request],
            Request::Personal => &mut [&mut self.served, &mut self.request_personal],
            Request::None => &mut [&mut self.served],
        };
        sets.iter_mut().any(|f| f.found_in(&views))
    }

    /// A plugin's log line as it may reach the server log.
    pub fn log_line(&mut self, text: &str) -> String {
        if self.contains(text, Request::All) {
            return WITHHELD_LINE.to_owned();
        }
        nfkc(text)
            .chars()
            .map(|c| {
                if c.is_numeric() || KANJI_DIGITS.contains(c) {
                    '#'
                } else if self.served.chars.contains(&c) || self.request.chars.contains(&c) {
                    '*'
                } else {
                    c
                }
            })
            .collect()
    }

    /// A plugin's error message as it may reach staff (digits kept: row
    /// numbers are what staff need to fix a feed; field names and words of
    /// the request such as a maker or a kind may be named back).
    pub fn error_message(&mut self, text: &str) -> String {
        if self.contains(text, Request::Personal) {
            WITHHELD_MESSAGE.to_owned()
        } else {
            text.to_owned()
        }
    }
}

impl Forms {
    fn add(&mut self, value: &str) {
        if self.overflow || value.chars().count() < MIN_FORM_CHARS {
            return;
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            self.overflow = true;
            self.pending.clear();
            return;
        }
        self.pending.push(value.to_owned());
    }

    /// Turns the remembered values into their forms.
    fn absorb(&mut self) {
        for value in std::mem::take(&mut self.pending) {
            let wide = nfkc(&value);
            self.chars.extend(
                wide.chars()
                    .filter(|c| !c.is_ascii() && c.is_alphanumeric()),
            );
            let digits: String = wide.chars().filter(char::is_ascii_digit).collect();
            let forms = [
                (compact(&wide), MIN_FORM_CHARS),
                (kiroku_rules::normalize::name_key(&value), MIN_FORM_CHARS),
                (digits, MIN_DIGIT_FORM),
            ];
            for (form, min) in forms {
                let form: String = form.chars().take(MAX_FORM_CHARS).collect();
                let len = form.chars().count();
                if len >= min {
                    self.lengths.insert(len);
                    self.forms.insert(form);
                }
            }
        }
    }

    /// Whether one of `views` of a text contains one of the forms.
    fn found_in(&mut self, views: &[String]) -> bool {
        self.absorb();
        if self.overflow {
            return true;
        }
        !self.forms.is_empty() && views.iter().any(|view| self.has_form_in(view))
    }

    fn has_form_in(&self, view: &str) -> bool {
        let chars: Vec<char> = view.chars().collect();
        let mut piece = String::new();
        for start in 0..chars.len() {
            for &len in &self.lengths {
                let Some(window) = chars.get(start..start + len) else {
                    break;
                };
                piece.clear();
                piece.extend(window);
                if self.forms.contains(&piece) {
                    return true;
                }
            }
        }
        false
    }
}

/// Which of the request's values a check looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    None,
    Personal,
    All,
}

/// A request value that could be personal: a number of four digits or
/// more (My Number, phone, date, address number) or any non-ASCII letter
/// (a name, an address), except in an uploaded file, whose header names
/// (`接種日`) are what errors about it must name.
fn looks_personal(value: &str, in_file: bool) -> bool {
    value.chars().filter(char::is_ascii_digit).count() >= MIN_DIGIT_FORM
        || (!in_file && value.chars().any(|c| !c.is_ascii() && c.is_alphanumeric()))
}

fn nfkc(text: &str) -> String {
    text.nfkc().collect()
}

/// Lowercase, without spaces, punctuation or separators.
fn compact(wide: &str) -> String {
    wide.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every string in a request's JSON, and each cell of text that looks like
/// a table (CSV lines, a base64 file's text).
/// Each comes with whether it is a cell of an uploaded file.
fn input_values(input: &str) -> Vec<(String, bool)> {
    let Ok(value) = crate::json_shape::parse(input.as_bytes()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut file_cells = Vec::new();
    let mut stack = vec![(None, &value)];
    while let Some((key, v)) = stack.pop() {
        match v {
            serde_json::Value::String(s) if key == Some("file_base64") => {
                use base64::Engine as _;
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                    cells(&decode_text(&bytes), &mut file_cells);
                }
            }
            serde_json::Value::String(s) => cells(s, &mut out),
            serde_json::Value::Number(n) => out.push(n.to_string()),
            serde_json::Value::Array(a) => stack.extend(a.iter().map(|v| (None, v))),
            serde_json::Value::Object(o) => {
                stack.extend(o.iter().map(|(k, v)| (Some(k.as_str()), v)));
            }
            _ => {}
        }
        if out.len() + file_cells.len() > MAX_VALUES {
            break;
        }
    }
    let mut values: Vec<(String, bool)> = out.into_iter().map(|v| (v, false)).collect();
    values.extend(file_cells.into_iter().map(|v| (v, true)));
    values
}

/// A file's text: UTF-8, else Shift_JIS (as municipal exports often are).
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::SHIFT_JIS.decode(bytes).0.into_owned(),
    }
}

fn cells(text: &str, out: &mut Vec<String>) {
    if !text.contains([',', '\n', '\t']) {
        out.push(text.to_owned());
        return;
    }
    out.extend(
        text.split([',', '\n', '\r', '\t'])
            .map(|c| c.trim().trim_matches('"'))
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withholds_a_served_value_in_any_normalised_form() {
        let mut r = Redactor::default();
        r.served("岡田 俊");
        r.served("オカダ シュン");
        r.served("090-1234-5678");
        r.served("神奈川県藤沢市鵠沼石上1-1-1");
        for line in [
            "person 岡田俊 done",
            "ｵｶﾀﾞ ｼｭﾝ",
            "おかだしゅん",
            "tel 0 9 0 / 1 2 3 4 . 5 6 7 8",
            "addr 神奈川県藤沢市鵠沼石上 1-1-1",
        ] {
            assert_eq!(r.log_line(line), WITHHELD_LINE, "{line}");
        }
        // Part of a value is not withheld, but none of its characters show.
        assert_eq!(r.log_line("addr 神奈川県藤沢"), "addr ******");
        assert_eq!(r.log_line("imported rows"), "imported rows");
    }

    #[test]
    fn masks_every_digit_and_every_character_of_a_served_value() {
        let mut r = Redactor::default();
        r.served("岡田 俊");
        assert_eq!(r.log_line("row 12 of 3000"), "row ## of ####");
        assert_eq!(r.log_line("a1b2c3d4_5/6.7"), "a#b#c#d#_#/#.#");
        assert_eq!(r.log_line("岡 then 田"), "* then *");
        assert_eq!(r.log_line("三丁目"), "#丁目");
    }

    #[test]
    fn error_messages_keep_row_numbers_and_words_but_no_personal_value() {
        let mut r = Redactor::with_input(Arc::from(
            r#"{"records":[{"kanji_name":"湘南 花子","op":"update","phone":"0466-22-1234"}]}"#,
        ));
        r.served("鎌倉 太郎");
        assert_eq!(
            r.error_message("row 3: birth-date is invalid"),
            "row 3: birth-date is invalid"
        );
        assert_eq!(
            r.error_message("row 3: op update is wrong"),
            "row 3: op update is wrong"
        );
        for quoting in ["row 3: 湘南花子 is wrong", "row 3: phone 0466221234"] {
            assert_eq!(r.error_message(quoting), WITHHELD_MESSAGE, "{quoting}");
        }
        assert_eq!(
            r.error_message("row 3: 鎌倉太郎 is wrong"),
            WITHHELD_MESSAGE
        );
        assert_eq!(r.log_line("row 3: 湘南花子"), WITHHELD_LINE);
    }

    #[test]
    fn reads_the_cells_of_an_uploaded_file() {
        use base64::Engine as _;
        let csv = "氏名,電話\n鎌倉 一郎,0466123456\n";
        let input = serde_json::json!({
            "file_base64": base64::engine::general_purpose::STANDARD.encode(csv)
        });
        let mut r = Redactor::with_input(Arc::from(input.to_string()));
        assert_eq!(r.log_line("saw 鎌倉一郎"), WITHHELD_LINE);
        assert_eq!(r.log_line("number 0466123456"), WITHHELD_LINE);
    }
}
