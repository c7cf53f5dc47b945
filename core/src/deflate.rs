//! permessage-deflate (RFC 7692): the offer, the server's answer, and the
//! compressor and decompressor of one connection (flate2 over zlib-rs).
//!
//! The answer is checked as Chromium checks it (every parameter the RFC
//! defines, each at most once, with a valid value; nothing that was not
//! offered). Both halves are created on first use, so a connection that
//! never sends or never receives a compressed message holds neither.

use crate::handshake::shown;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// What the client offers (`Sec-WebSocket-Extensions` of the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateOffer {
    /// `client_max_window_bits`: offered without a value (None, as
    /// Chromium does: "the server may limit my window") or with one (8..=15).
    pub client_max_window_bits: Option<u8>,
    /// `server_max_window_bits=N` (8..=15): asks the server to use a
    /// smaller window, which makes the receiving side's memory smaller.
    /// None (the default, as Chromium): not offered.
    pub server_max_window_bits: Option<u8>,
    /// `client_no_context_takeover`: the client promises to compress each
    /// message on its own (RFC 7692 7.1.1.1), which saves the server the
    /// memory of a window per connection. Not offered by default.
    pub client_no_context_takeover: bool,
}

impl DeflateOffer {
    /// An offer; window bits, when given, from 8 to 15.
    pub fn new(
        client_max_window_bits: Option<u8>,
        server_max_window_bits: Option<u8>,
        client_no_context_takeover: bool,
    ) -> Result<DeflateOffer, crate::Error> {
        for (name, bits) in [
            ("client_max_window_bits", client_max_window_bits),
            ("server_max_window_bits", server_max_window_bits),
        ] {
            if let Some(b) = bits {
                if !(8..=15).contains(&b) {
                    return Err(crate::Error::new(
                        crate::ErrorKind::InvalidOption,
                        format!("{name} must be from 8 to 15, not {b}"),
                    ));
                }
            }
        }
        Ok(DeflateOffer { client_max_window_bits, server_max_window_bits, client_no_context_takeover })
    }

    /// The request header's value.
    pub(crate) fn header_value(&self) -> String {
        let mut v = String::from("permessage-deflate");
        if self.client_no_context_takeover {
            v.push_str("; client_no_context_takeover");
        }
        v.push_str("; client_max_window_bits");
        if let Some(b) = self.client_max_window_bits {
            v.push_str(&format!("={b}"));
        }
        if let Some(b) = self.server_max_window_bits {
            v.push_str(&format!("; server_max_window_bits={b}"));
        }
        v
    }
}

/// What the server accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window (the decompressor's), 8..=15.
    pub server_max_window_bits: u8,
    /// The client's window (the compressor's), 8..=15.
    pub client_max_window_bits: u8,
}

/// One parsed extension: its name and parameters (value unquoted).
struct Extension<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<String>)>,
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses a `Sec-WebSocket-Extensions` value (RFC 6455 9.1): extensions
/// separated by commas, each a token with `; name[=value]` parameters,
/// values tokens or quoted strings.
fn parse_extensions(value: &str) -> Option<Vec<Extension<'_>>> {
    let mut out = Vec::new();
    let mut rest = value;
    let skip_ws = |s: &str| s.trim_start_matches([' ', '\t']).len();
    loop {
        rest = &rest[rest.len() - skip_ws(rest)..];
        let end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        let mut ext = Extension { name: &rest[..end], params: Vec::new() };
        rest = &rest[end..];
        loop {
            rest = &rest[rest.len() - skip_ws(rest)..];
            match rest.chars().next() {
                None => {
                    out.push(ext);
                    return Some(out);
                }
                Some(',') => {
                    rest = &rest[1..];
                    out.push(ext);
                    break;
                }
                Some(';') => {
                    rest = &rest[1..];
                    rest = &rest[rest.len() - skip_ws(rest)..];
                    let end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
                    if end == 0 {
                        return None;
                    }
                    let name = &rest[..end];
                    rest = &rest[end..];
                    rest = &rest[rest.len() - skip_ws(rest)..];
                    let mut value = None;
                    if let Some(r) = rest.strip_prefix('=') {
                        rest = &r[r.len() - skip_ws(r)..];
                        if let Some(r) = rest.strip_prefix('"') {
                            let mut v = String::new();
                            let mut chars = r.char_indices();
                            let close = loop {
                                match chars.next() {
                                    None => return None,
                                    Some((i, '"')) => break i,
                                    Some((_, '\\')) => v.push(chars.next()?.1),
                                    Some((_, c)) => v.push(c),
                                }
                            };
                            // A quoted value must still be a token.
                            if v.is_empty() || !v.chars().all(is_tchar) {
                                return None;
                            }
                            rest = &r[close + 1..];
                            value = Some(v);
                        } else {
                            let end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
                            if end == 0 {
                                return None;
                            }
                            value = Some(rest[..end].to_string());
                            rest = &rest[end..];
                        }
                    }
                    ext.params.push((name, value));
                }
                Some(_) => return None,
            }
        }
    }
}

/// A window-bits value as Chromium accepts it: 8 to 15, digits only, no
/// leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 2 {
        return None;
    }
    let b: u8 = v.parse().ok()?;
    (8..=15).contains(&b).then_some(b)
}

/// Checks the server's `Sec-WebSocket-Extensions` values (one per header
/// line) against the offer. `Ok(None)`: no extension accepted.
pub(crate) fn check_response(
    values: &[&str],
    offer: Option<&DeflateOffer>,
) -> Result<Option<DeflateParams>, String> {
    let mut accepted = None;
    for value in values {
        let exts = parse_extensions(value).ok_or_else(|| {
            format!("the 'Sec-WebSocket-Extensions' response header '{}' cannot be parsed", shown(value))
        })?;
        for ext in exts {
            if ext.name != "permessage-deflate" {
                return Err(format!(
                    "the server accepted the extension '{}', which was not offered",
                    shown(ext.name)
                ));
            }
            let Some(offer) = offer else {
                return Err("the server accepted permessage-deflate, which was not offered".into());
            };
            if accepted.is_some() {
                return Err("the server accepted permessage-deflate twice".into());
            }
            accepted = Some(check_params(&ext.params, offer)?);
        }
    }
    Ok(accepted)
}

fn check_params(params: &[(&str, Option<String>)], offer: &DeflateOffer) -> Result<DeflateParams, String> {
    let mut p = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in params {
        if seen.contains(name) {
            return Err(format!("permessage-deflate: the parameter '{}' appears twice", shown(name)));
        }
        seen.push(name);
        let no_value = |flag: &mut bool| match value {
            None => {
                *flag = true;
                Ok(())
            }
            Some(_) => Err(format!("permessage-deflate: the parameter '{name}' must not have a value")),
        };
        let bits = || {
            value.as_deref().and_then(window_bits).ok_or_else(|| {
                format!(
                    "permessage-deflate: the parameter '{name}' needs a value from 8 to 15, not '{}'",
                    shown(value.as_deref().unwrap_or(""))
                )
            })
        };
        match *name {
            "server_no_context_takeover" => no_value(&mut p.server_no_context_takeover)?,
            "client_no_context_takeover" => no_value(&mut p.client_no_context_takeover)?,
            "server_max_window_bits" => p.server_max_window_bits = bits()?,
            "client_max_window_bits" => p.client_max_window_bits = bits()?,
            other => return Err(format!("permessage-deflate: unknown parameter '{}'", shown(other))),
        }
    }
    if let Some(max) = offer.client_max_window_bits {
        // Offered with a value: the server may only lower it.
        if seen.contains(&"client_max_window_bits") && p.client_max_window_bits > max {
            return Err(format!(
                "permessage-deflate: client_max_window_bits={} is larger than the {max} offered",
                p.client_max_window_bits
            ));
        }
        p.client_max_window_bits = p.client_max_window_bits.min(max);
    }
    // Offered, it binds the client whatever the answer (RFC 7692 7.1.1.1).
    p.client_no_context_takeover |= offer.client_no_context_takeover;
    if let Some(max) = offer.server_max_window_bits {
        // RFC 7692 7.1.2.1: the server must answer a server_max_window_bits
        // offer with a value no larger.
        if !seen.contains(&"server_max_window_bits") || p.server_max_window_bits > max {
            return Err(format!(
                "permessage-deflate: the server did not accept server_max_window_bits={max}"
            ));
        }
    }
    Ok(p)
}

/// The tail a sync flush ends with, removed from every compressed message
/// (RFC 7692 7.2.1) and appended again before inflating (7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses the messages the client sends.
pub(crate) struct Deflater {
    /// Created on the first message.
    z: Option<Compress>,
    /// The level `z` compresses at now.
    level: u32,
    window_bits: u8,
    reset_each_message: bool,
}

/// Messages shorter than this are compressed at [`SMALL_LEVEL`], longer
/// ones at [`LARGE_LEVEL`]. Every message ends a deflate block; from level 2
/// up zlib builds that block's Huffman codes for the message (about 3 us a
/// message whatever its size: 250,000 small messages a second at most), and
/// level 1 uses the fixed codes (5,000,000 a second), which cost a 180-byte
/// JSON message only about 5 bytes more. On large messages the fixed codes
/// cost much more (a 300 KiB JSON text: 65 KiB at level 1, 35 KiB at 6).
/// A change of level costs the history (the next message does not refer
/// back to the earlier ones).
const SMALL_MESSAGE: usize = 1024;
const SMALL_LEVEL: u32 = 1;
/// zlib's default, as Chromium uses for every message.
const LARGE_LEVEL: u32 = 6;

impl Deflater {
    pub(crate) fn new(p: &DeflateParams) -> Deflater {
        Deflater {
            z: None,
            level: LARGE_LEVEL,
            // zlib has no raw 256-byte window; with 9 bits its matches
            // reach at most 250 bytes back (the window less its 262-byte
            // lookahead), so the output fits `client_max_window_bits=8`.
            // Chromium does the same.
            window_bits: p.client_max_window_bits.max(9),
            reset_each_message: p.client_no_context_takeover,
        }
    }

    /// Frees the compressor's memory (about 200 to 300 KiB): the next
    /// message starts a fresh one, which does not refer back to earlier
    /// messages. That is always valid (the server's window keeps what it
    /// had; nothing requires the client to use it) and costs only some
    /// compression of the first message after.
    pub(crate) fn release(&mut self) {
        self.z = None;
        self.level = LARGE_LEVEL;
    }

    /// Appends the compressed form of `data` (without the sync-flush tail)
    /// to `out`.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let (bits, current) = (self.window_bits, self.level);
        let level = if data.len() < SMALL_MESSAGE { SMALL_LEVEL } else { LARGE_LEVEL };
        let z = self
            .z
            .get_or_insert_with(|| Compress::new_with_window_bits(Compression::new(current), false, bits));
        if level != current {
            // zlib changes the level in the middle of a stream only by
            // ending a block, which zlib-rs cannot do without an output
            // buffer after a level-1 message: the stream starts afresh
            // (valid, see `release`), then takes the new level.
            z.reset();
            z.set_level(Compression::new(level)).expect("a level from 0 to 9 on a fresh stream");
            self.level = level;
        }
        let start = out.len();
        let mut input = data;
        // Sync flush until the output has room left over: then the whole
        // input is in and flushed.
        loop {
            out.reserve(input.len() / 2 + 64);
            let before_in = z.total_in();
            z.compress_vec(input, out, FlushCompress::Sync).expect("deflate cannot fail on valid state");
            input = &input[(z.total_in() - before_in) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        // An empty message right after another message's flush makes zlib
        // write nothing.
        debug_assert!(out.len() > start || data.is_empty(), "no output for {} bytes", data.len());
        if out.len() == start {
            // An empty message is one empty block (RFC 7692 7.2.3.6), as
            // Chromium sends it: an empty payload would leave the server's
            // inflater out of step.
            out.push(0x00);
        }
        if self.reset_each_message {
            z.reset();
        }
    }
}

/// Why inflating a message stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The message would be larger than this many bytes.
    TooLarge(usize),
    /// The compressed data is not valid DEFLATE.
    Invalid(String),
}

/// Decompresses the messages the server sends. As Chromium's, it always
/// has a 15-bit window and is never reset: a server that announced a
/// smaller window or no context takeover and then uses more is still
/// understood (a larger window decodes anything a smaller one produced).
#[derive(Default)]
pub(crate) struct Inflater {
    /// Created on the first compressed message.
    z: Option<Decompress>,
    /// The server ended the deflate stream (a final block): a later
    /// compressed message cannot be inflated.
    ended: bool,
}

impl Inflater {
    /// Inflates `input` (part of a message's compressed payload) onto the
    /// end of `out`, never letting `out` grow past `limit` bytes.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut bytes::BytesMut,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.run(input, out, limit, false)
    }

    /// Ends a message: the sync-flush tail.
    pub(crate) fn finish(&mut self, out: &mut bytes::BytesMut, limit: usize) -> Result<(), InflateError> {
        if self.ended {
            return Ok(());
        }
        self.run(&TAIL, out, limit, true)
    }

    /// `tail`: `input` is the sync-flush tail, ignored after a final block.
    fn run(
        &mut self,
        input: &[u8],
        out: &mut bytes::BytesMut,
        limit: usize,
        tail: bool,
    ) -> Result<(), InflateError> {
        if self.ended {
            if input.is_empty() {
                return Ok(());
            }
            return Err(InflateError::Invalid(
                "the server ended its deflate stream in an earlier message".into(),
            ));
        }
        let z = self.z.get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        let mut input = input;
        loop {
            if out.len() > limit {
                return Err(InflateError::TooLarge(limit));
            }
            // Room for one byte past the limit tells a message that is
            // exactly at the limit from one that is larger.
            let room = limit + 1 - out.len();
            let want = (input.len() * 4).clamp(4096, 1 << 20).min(room);
            if out.capacity() - out.len() < want {
                out.reserve(want);
            }
            let spare = out.spare_capacity_mut();
            let spare_len = spare.len().min(room);
            // SAFETY: zlib-rs writes only initialized bytes into the output
            // and reports how many; the uninitialized tail is never read.
            let dst = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr() as *mut u8, spare_len) };
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z
                .decompress(input, dst, FlushDecompress::Sync)
                .map_err(|e| InflateError::Invalid(e.to_string()))?;
            let consumed = (z.total_in() - in0) as usize;
            let produced = (z.total_out() - out0) as usize;
            // SAFETY: `produced` bytes were written at the start of the spare capacity.
            unsafe { out.set_len(out.len() + produced) };
            input = &input[consumed..];
            if out.len() > limit {
                return Err(InflateError::TooLarge(limit));
            }
            if status == Status::StreamEnd {
                // A final block: this message ends here (as in Chromium,
                // it is delivered); a later one cannot be inflated.
                self.ended = true;
                if !input.is_empty() && !tail {
                    return Err(InflateError::Invalid("data after the end of the deflate stream".into()));
                }
                return Ok(());
            }
            // Done when the input is used up and the output had room left
            // (otherwise zlib may hold more output).
            if input.is_empty() && produced < spare_len {
                return Ok(());
            }
            if consumed == 0 && produced == 0 {
                return Err(InflateError::Invalid("the deflate stream does not progress".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn offer() -> DeflateOffer {
        DeflateOffer::default()
    }

    fn accept(v: &str) -> Result<Option<DeflateParams>, String> {
        check_response(&[v], Some(&offer()))
    }

    #[test]
    fn the_offer_is_chromiums() {
        assert_eq!(offer().header_value(), "permessage-deflate; client_max_window_bits");
        let o = DeflateOffer::new(Some(12), Some(10), true).unwrap();
        assert_eq!(
            o.header_value(),
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=12; server_max_window_bits=10"
        );
        assert!(DeflateOffer::new(Some(7), None, false).is_err());
        assert!(DeflateOffer::new(None, Some(16), false).is_err());
        assert!(
            check_response(&["permessage-deflate"], Some(&o)).is_err(),
            "server_max_window_bits not answered"
        );
        let o = DeflateOffer::new(None, None, true).unwrap();
        let p = check_response(&["permessage-deflate"], Some(&o)).unwrap().unwrap();
        assert!(p.client_no_context_takeover, "the offer binds the client");
    }

    #[test]
    fn every_valid_answer_is_accepted() {
        let p = accept("permessage-deflate").unwrap().unwrap();
        assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (15, 15));
        assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
        let p = accept("permessage-deflate;server_no_context_takeover;client_no_context_takeover")
            .unwrap()
            .unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
        for b in 8..=15 {
            let p = accept(&format!("permessage-deflate; server_max_window_bits={b}")).unwrap().unwrap();
            assert_eq!(p.server_max_window_bits, b);
            let p = accept(&format!("permessage-deflate; client_max_window_bits=\"{b}\"")).unwrap().unwrap();
            assert_eq!(p.client_max_window_bits, b);
        }
        assert_eq!(check_response(&[], Some(&offer())), Ok(None));
    }

    #[test]
    fn every_invalid_answer_fails() {
        for v in [
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits=9.0",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate;",
            "permessage-deflate; =",
            "",
        ] {
            assert!(accept(v).is_err(), "accepted {v:?}");
        }
        assert!(check_response(&["permessage-deflate"], None).is_err(), "not offered");
        assert!(check_response(&["permessage-deflate", "permessage-deflate"], Some(&offer())).is_err());
        let o = DeflateOffer::new(Some(10), Some(12), false).unwrap();
        assert!(check_response(
            &["permessage-deflate; server_max_window_bits=12; client_max_window_bits=11"],
            Some(&o)
        )
        .is_err());
        assert!(check_response(&["permessage-deflate"], Some(&o)).is_err(), "server window not limited");
        let p = check_response(&["permessage-deflate; server_max_window_bits=9"], Some(&o)).unwrap().unwrap();
        assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (9, 10));
    }

    fn params(server_nct: bool, client_nct: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: server_nct,
            client_no_context_takeover: client_nct,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    #[test]
    fn messages_round_trip_with_and_without_context_takeover() {
        for nct in [false, true] {
            let p = params(false, nct);
            let mut d = Deflater::new(&p);
            let mut i = Inflater::default();
            let msg = br#"{"type":"tick","symbol":"ABC","price":123.45,"size":100}"#;
            let mut sizes = Vec::new();
            for _ in 0..3 {
                let mut c = Vec::new();
                d.compress(msg, &mut c);
                sizes.push(c.len());
                let mut out = BytesMut::new();
                i.inflate(&c, &mut out, 1 << 20).unwrap();
                i.finish(&mut out, 1 << 20).unwrap();
                assert_eq!(&out[..], &msg[..]);
            }
            // With context takeover the repeat is a back-reference.
            assert_eq!(sizes[2] < sizes[0], !nct, "{sizes:?}");
        }
        let mut d = Deflater::new(&params(false, false));
        let mut c = Vec::new();
        d.compress(b"", &mut c);
        let mut out = BytesMut::new();
        let mut i = Inflater::default();
        i.inflate(&c, &mut out, 10).unwrap();
        i.finish(&mut out, 10).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_compression_bomb_stops_at_the_limit() {
        let p = params(false, false);
        let mut d = Deflater::new(&p);
        let big = vec![b'a'; 4 << 20];
        let mut c = Vec::new();
        d.compress(&big, &mut c);
        assert!(c.len() < 10 << 10, "{} bytes", c.len());
        let mut i = Inflater::default();
        let mut out = BytesMut::new();
        let limit = 1 << 20;
        let e = i.inflate(&c, &mut out, limit).unwrap_err();
        assert_eq!(e, InflateError::TooLarge(limit));
        assert!(out.len() <= limit + 1 && out.capacity() <= 2 * limit + 4096, "{}", out.capacity());
        // Exactly at the limit is fine.
        let mut i = Inflater::default();
        let mut d = Deflater::new(&p);
        let mut c = Vec::new();
        d.compress(&big[..limit], &mut c);
        let mut out = BytesMut::new();
        i.inflate(&c, &mut out, limit).unwrap();
        i.finish(&mut out, limit).unwrap();
        assert_eq!(out.len(), limit);
    }

    #[test]
    fn invalid_data_is_an_error() {
        let mut i = Inflater::default();
        let mut out = BytesMut::new();
        assert!(matches!(
            i.inflate(&[0xff, 0xff, 0xff, 0xff, 0x00], &mut out, 1 << 20),
            Err(InflateError::Invalid(_))
        ));
    }

    #[test]
    fn empty_messages_are_one_empty_block_as_chromium_sends_them() {
        let mut d = Deflater::new(&params(false, false));
        let mut c = Vec::new();
        d.compress(b"", &mut c);
        assert_eq!(c, [0x00]);
        c.clear();
        d.compress(b"a", &mut c);
        assert_eq!(c, [0x4a, 0x04, 0x00], "Chromium's bytes for \"a\"");
    }

    #[test]
    fn small_and_large_messages_switch_levels_within_one_stream() {
        let p = params(false, false);
        let mut d = Deflater::new(&p);
        let mut i = Inflater::default();
        let large: Vec<u8> = (0..5000u32).flat_map(|n| format!("{{\"n\":{n}}},").into_bytes()).collect();
        for (k, msg) in [&b"small"[..], &large, b"small", b"", &large[..900], &large, b"x"].iter().enumerate()
        {
            let mut c = Vec::new();
            d.compress(msg, &mut c);
            let mut out = BytesMut::new();
            i.inflate(&c, &mut out, 1 << 20).unwrap();
            i.finish(&mut out, 1 << 20).unwrap();
            assert_eq!(&out[..], &msg[..], "message {k}");
        }
    }

    #[test]
    fn a_final_block_ends_the_message_and_the_stream() {
        // "hi" as a final fixed-Huffman block (BFINAL set).
        let mut z = Compress::new_with_window_bits(Compression::default(), false, 15);
        let mut c = Vec::with_capacity(64);
        z.compress_vec(b"hi", &mut c, FlushCompress::Finish).unwrap();
        let mut i = Inflater::default();
        let mut out = BytesMut::new();
        i.inflate(&c, &mut out, 100).unwrap();
        i.finish(&mut out, 100).unwrap();
        assert_eq!(&out[..], b"hi");
        let mut out = BytesMut::new();
        assert!(matches!(i.inflate(&[0x4a, 0x04, 0x00], &mut out, 100), Err(InflateError::Invalid(_))));
    }

    #[test]
    fn window_8_compresses_within_256_bytes() {
        let mut p = params(false, false);
        p.client_max_window_bits = 8;
        let mut d = Deflater::new(&p);
        let mut c = Vec::new();
        let text: Vec<u8> =
            (0..2000u32).map(|i| b"abcdefghij"[(i % 10) as usize] ^ ((i / 300) as u8)).collect();
        d.compress(&text, &mut c);
        let mut out = BytesMut::new();
        let mut i = Inflater::default();
        i.inflate(&c, &mut out, 1 << 20).unwrap();
        i.finish(&mut out, 1 << 20).unwrap();
        assert_eq!(&out[..], &text[..]);
    }
}
