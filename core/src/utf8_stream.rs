//! Incremental UTF-8 validation: bytes arrive in arbitrary pieces, and an
//! invalid sequence is reported as soon as its first bad byte is seen.

#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Stream {
    pending: [u8; 4],
    pending_len: usize,
}

fn sequence_len(first: u8) -> usize {
    match first {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

impl Utf8Stream {
    /// Feeds more bytes; `Err` as soon as the input cannot be UTF-8.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), ()> {
        if self.pending_len > 0 {
            let need = sequence_len(self.pending[0]);
            while self.pending_len < need {
                let Some((&b, rest)) = data.split_first() else { return Ok(()) };
                self.pending[self.pending_len] = b;
                self.pending_len += 1;
                data = rest;
                if let Err(e) = std::str::from_utf8(&self.pending[..self.pending_len]) {
                    if e.error_len().is_some() {
                        return Err(());
                    }
                }
            }
            self.pending_len = 0;
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(()),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
        }
    }

    /// True when no sequence is left half-finished.
    pub(crate) fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Stream;

    fn split_everywhere(input: &[u8]) -> Vec<Result<bool, usize>> {
        // For every split point: Ok(complete) or Err(index of the piece that failed).
        (0..=input.len())
            .map(|i| {
                let mut v = Utf8Stream::default();
                v.feed(&input[..i]).map_err(|_| 0usize)?;
                v.feed(&input[i..]).map_err(|_| 1usize)?;
                Ok(v.is_complete())
            })
            .collect()
    }

    #[test]
    fn valid_text_in_any_split_is_accepted() {
        let s = "κόσμε aé€𝄞".as_bytes();
        assert!(split_everywhere(s).iter().all(|r| *r == Ok(true)));
        for i in 0..s.len() {
            let mut v = Utf8Stream::default();
            for b in s.iter().take(i) {
                v.feed(std::slice::from_ref(b)).unwrap();
            }
            v.feed(&s[i..]).unwrap();
            assert!(v.is_complete());
        }
    }

    #[test]
    fn invalid_bytes_fail_at_the_first_bad_byte() {
        // Autobahn 6.3.1's payload: fails at byte 12 ("\xed\xa0\x80" is a surrogate).
        let s = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
        let mut v = Utf8Stream::default();
        let mut failed_at = None;
        for (i, b) in s.iter().enumerate() {
            if v.feed(std::slice::from_ref(b)).is_err() {
                failed_at = Some(i);
                break;
            }
        }
        assert_eq!(failed_at, Some(12));
        for bad in [&b"\xff"[..], b"\xc0\x80", b"\xf5\x80\x80\x80", b"a\x80", b"\xe0\x80"] {
            let mut v = Utf8Stream::default();
            assert!(v.feed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncated_sequence_is_incomplete() {
        let mut v = Utf8Stream::default();
        v.feed(b"ok\xe2\x82").unwrap();
        assert!(!v.is_complete());
        v.feed(b"\xac").unwrap();
        assert!(v.is_complete());
    }
}
