//! Reading the trace files PVM 3.4's `tracer` writes (SDDF, the Pablo
//! self-defining data format in its ASCII form): descriptors
//! `#N: "name(e.x)" { // "DID" "description" \n type "DID"[]; ... };;`
//! and records `"name(e.x)" { value, ... };;`, where a value is a number
//! or `[n] { "string" }` / `[n] { 1, 2 }` for arrays.

use std::collections::HashMap;

/// One value of a record.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number.
    Num(i64),
    /// A string (`char[]`).
    Str(String),
    /// An array of numbers.
    Nums(Vec<i64>),
    /// An array of strings.
    Strs(Vec<String>),
}

/// One event: its descriptor name (`send(0.0)`), event name (`send`),
/// entry/exit (`Some(false)` entry, `Some(true)` exit, None for events
/// without one: newtask, output, host_add, ...) and named fields.
#[derive(Clone, Debug)]
pub struct Event {
    pub name: String,
    pub exit: Option<bool>,
    pub fields: HashMap<String, Value>,
}

impl Event {
    /// Field `k` as a number.
    pub fn num(&self, k: &str) -> Option<i64> {
        match self.fields.get(k) {
            Some(Value::Num(n)) => Some(*n),
            _ => None,
        }
    }

    /// Field `k` as a string.
    pub fn text(&self, k: &str) -> Option<&str> {
        match self.fields.get(k) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Field `k` as numbers (an array, or one number).
    pub fn nums(&self, k: &str) -> Vec<i64> {
        match self.fields.get(k) {
            Some(Value::Nums(v)) => v.clone(),
            Some(Value::Num(n)) => vec![*n],
            _ => Vec::new(),
        }
    }

    /// The event's time in microseconds since the epoch (TS, TU).
    pub fn micros(&self) -> i64 {
        self.num("TS").unwrap_or(0) * 1_000_000 + self.num("TU").unwrap_or(0)
    }

    /// The task the event is about (TID).
    pub fn tid(&self) -> i64 {
        self.num("TID").unwrap_or(0)
    }
}

/// Splits `name(0.0)` into (`name`, entry/exit).
fn split_name(full: &str) -> (String, Option<bool>) {
    match full.rfind('(') {
        Some(i) => {
            let base = full[..i].to_string();
            let inner = full[i + 1..].trim_end_matches(')');
            let exit = if inner.contains('.') {
                Some(inner.starts_with('1'))
            } else {
                None
            };
            (base, exit)
        }
        None => (full.to_string(), None),
    }
}

/// A small cursor over the text.
struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] as char).is_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn string(&mut self) -> Option<String> {
        self.ws();
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                _ => out.push(c),
            }
        }
        None
    }
    fn number(&mut self) -> Option<i64> {
        self.ws();
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b'-' || c == b'+' || c == b'.' || c.is_ascii_alphanumeric() {
                self.i += 1;
            } else {
                break;
            }
        }
        let t = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        t.parse::<i64>()
            .ok()
            .or_else(|| t.parse::<f64>().ok().map(|f| f as i64))
    }
    /// One value: a number, a string, or `[n] { items }`.
    fn value(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(Value::Str),
            b'[' => {
                self.i += 1;
                let _n = self.number();
                self.eat(b']');
                self.eat(b'{');
                let mut strs = Vec::new();
                let mut nums = Vec::new();
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        Some(b',') => self.i += 1,
                        Some(b'"') => strs.push(self.string()?),
                        Some(_) => nums.push(self.number()?),
                        None => return None,
                    }
                }
                // A char[] of one string is the string itself.
                Some(if !strs.is_empty() {
                    if strs.len() == 1 {
                        Value::Str(strs.remove(0))
                    } else {
                        Value::Strs(strs)
                    }
                } else {
                    Value::Nums(nums)
                })
            }
            _ => self.number().map(Value::Num),
        }
    }
    /// Skips to just after the next `;;`.
    fn skip_statement(&mut self) {
        while self.i + 1 < self.s.len() {
            if self.s[self.i] == b';' && self.s[self.i + 1] == b';' {
                self.i += 2;
                return;
            }
            self.i += 1;
        }
        self.i = self.s.len();
    }
}

/// Reads a whole trace file: its events in file order. Statements it
/// cannot read are skipped.
pub fn parse(text: &str) -> Vec<Event> {
    let mut fields_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut events = Vec::new();
    let mut c = Cur {
        s: text.as_bytes(),
        i: 0,
    };
    loop {
        c.ws();
        let Some(ch) = c.peek() else { break };
        match ch {
            b'/' => {
                // The header comment: up to "*/ ;;".
                c.skip_statement();
            }
            b'#' => {
                // A descriptor: #N: "name" { // "DID" "desc" type "DID"[]; ... };;
                let start = c.i;
                c.skip_statement();
                let body = &text[start..c.i];
                let name = body.split('"').nth(1).unwrap_or("").to_string();
                let mut names = Vec::new();
                for line in body.lines() {
                    let l = line.trim();
                    if l.starts_with("//") || !l.ends_with(';') {
                        continue;
                    }
                    if let Some(did) = l.split('"').nth(1) {
                        names.push(did.to_string());
                    }
                }
                fields_of.insert(name, names);
            }
            b'"' => {
                let Some(full) = c.string() else { break };
                let mut vals = Vec::new();
                if c.eat(b'{') {
                    loop {
                        c.ws();
                        match c.peek() {
                            Some(b'}') => {
                                c.i += 1;
                                break;
                            }
                            Some(b',') => c.i += 1,
                            Some(_) => match c.value() {
                                Some(v) => vals.push(v),
                                None => break,
                            },
                            None => break,
                        }
                    }
                }
                c.skip_statement();
                let names = fields_of.get(&full).cloned().unwrap_or_default();
                let (name, exit) = split_name(&full);
                let fields = names.into_iter().zip(vals).collect();
                events.push(Event { name, exit, fields });
            }
            _ => c.skip_statement(),
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"/*
 * "Creation Date" "x"
 */ ;;

#1094: "send(0.0)"
{
	// "TS" "Time Seconds"
	int "TS";
	// "TU" "Time Microseconds"
	int "TU";
	// "TID" "Task ID"
	int "TID";
	// "DST" "Message Destination Task ID"
	int "DST";
};;

"send(0.0)" { 10, 5, 262148, 262147 };;

#1150: "newtask(0)"
{
	// "TS" "Time Seconds"
	int "TS";
	// "TU" "Time Microseconds"
	int "TU";
	// "TID" "Task ID"
	int "TID";
	// "TN" "Task Name"
	char "TN"[];
	// "STL" "list"
	int "STL"[];
};;

"newtask(0)" { 11, 0, 262147, [6] { "hello" }, [2] { 1, 2 } };;
"#;

    #[test]
    fn reads_descriptors_and_records() {
        let ev = parse(SAMPLE);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].name, "send");
        assert_eq!(ev[0].exit, Some(false));
        assert_eq!(ev[0].num("DST"), Some(262147));
        assert_eq!(ev[0].micros(), 10_000_005);
        assert_eq!(ev[1].name, "newtask");
        assert_eq!(ev[1].exit, None);
        assert_eq!(ev[1].text("TN"), Some("hello"));
        assert_eq!(ev[1].nums("STL"), vec![1, 2]);
    }
}
