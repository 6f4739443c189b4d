//! The accepted-message log: what makes an acknowledgement durable. Accepted messages and the
//! done marks of answered ones are appended to a plain file, many in one `write` (see
//! [`super::group_log`]), before the ack, and reach SQLite with the writer's next group commit;
//! two files take turns, so the one whose records are committed is emptied while the other
//! takes appends. At start both are replayed into the database, then emptied.
//!
//! Why not a SQLite commit per ack: each costs thread wake-ups, `fcntl` locks and several
//! `pwrite`s on the writer thread and back, where the append is one `write` on the calling task
//! (BENCHMARKS.md has the counts).
//!
//! A record: its body's length (u32, little-endian), the CRC-32 of the body, then the body. An
//! accepted message's: the row (i64), the time received (ms since the epoch, i64), the `msgId`'s
//! length (u32), the `msgId`, and the payload to the end. A done mark's (16 bytes, shorter than
//! any accepted message's): the row and the time it was done. A record cut short by a crash, or
//! one whose CRC does not match, ends the replay of its file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};

/// The two files, in the data directory beside the database.
const FILES: [&str; 2] = ["accepted-0.log", "accepted-1.log"];
/// The fixed part of a record: length, CRC, row, time, `msgId` length.
const HEADER: usize = 4 + 4 + 8 + 8 + 4;
/// A done mark's body: the row and the time.
const DONE_BODY: usize = 8 + 8;
/// A body longer than this is not a record this binary wrote (messages are at most 64 KiB).
const MAX_BODY: usize = 4 << 20;

/// One accepted message, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Accepted {
    pub row: i64,
    pub received_ms: i64,
    pub msg_id: String,
    pub payload: String,
}

/// What the log files hold: the accepted messages, and the done marks `(row, done at)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Logged {
    pub accepted: Vec<Accepted>,
    pub done: Vec<(i64, i64)>,
}

impl Logged {
    pub(super) fn is_empty(&self) -> bool {
        self.accepted.is_empty() && self.done.is_empty()
    }
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    Accepted(Accepted),
    Done { row: i64, at_ms: i64 },
}

/// The two files: appends go to `files[active]`; the other is empty, or holds records the
/// writer is committing (`sealed`).
pub(super) struct AcceptedLog {
    files: [File; 2],
    active: usize,
    sealed: bool,
    /// The active file's length, so a failed append can be cut off again.
    len: u64,
}

impl std::fmt::Debug for AcceptedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptedLog").field("active", &self.active).field("sealed", &self.sealed).finish()
    }
}

fn paths(dir: &Path) -> [PathBuf; 2] {
    FILES.map(|name| dir.join(name))
}

/// Every record both files hold.
pub(super) fn replay(dir: &Path) -> io::Result<Logged> {
    read(dir, |path| {
        tracing::warn!(
            file = %path.display(),
            "the accepted-message log ends in a damaged record (a crash mid-write): what follows it is skipped"
        );
    })
}

/// What both files hold now, read while the bot may be appending (a backup's): a record being
/// written as they are read ends the file's records, and is no damage.
pub(super) fn snapshot(dir: &Path) -> io::Result<Logged> {
    read(dir, |_| {})
}

fn read(dir: &Path, torn_at: impl Fn(&Path)) -> io::Result<Logged> {
    let mut logged = Logged::default();
    for path in paths(dir) {
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes)?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let (decoded, torn) = decode_all(&bytes);
        if torn {
            torn_at(&path);
        }
        // Order does not matter: the accepted rows are inserted, then the done marks applied.
        for record in decoded {
            match record {
                Record::Accepted(accepted) => logged.accepted.push(accepted),
                Record::Done { row, at_ms } => logged.done.push((row, at_ms)),
            }
        }
    }
    logged.accepted.sort_by_key(|accepted| accepted.row);
    Ok(logged)
}

impl AcceptedLog {
    /// Opens (creating if missing) both files for appending. Call after [`replay`], once what
    /// they held is committed: they are emptied.
    pub(super) fn open(dir: &Path) -> io::Result<Self> {
        let open = |path: &PathBuf| -> io::Result<File> {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            file.set_len(0)?;
            Ok(file)
        };
        let [first, second] = paths(dir);
        Ok(Self { files: [open(&first)?, open(&second)?], active: 0, sealed: false, len: 0 })
    }

    /// Appends encoded records in one `write`. Once it returns, a killed process loses nothing
    /// of them. One that fails is cut off again (as far as the disk lets it), so the records
    /// appended after it are not hidden behind a torn one.
    pub(super) fn append(&mut self, encoded: &[u8]) -> io::Result<()> {
        let file = &mut self.files[self.active];
        match file.write_all(encoded) {
            Ok(()) => {
                self.len += encoded.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = file.set_len(self.len);
                Err(err)
            }
        }
    }

    /// Before a commit of everything appended so far: turns appends to the other file, unless
    /// it still holds records not yet committed (a commit failed), in which case this commit
    /// takes those too and appends stay where they are.
    pub(super) fn seal(&mut self) {
        if !self.sealed {
            self.active = 1 - self.active;
            self.sealed = true;
            self.len = 0;
        }
    }

    /// Appends one accepted message on its own (what a test leaves behind a store).
    #[cfg(test)]
    pub(super) fn append_accepted(&mut self, record: &Accepted) -> io::Result<()> {
        let mut bytes = Vec::new();
        encode(record, &mut bytes)?;
        self.append(&bytes)
    }

    /// Makes every append fail, as on a full disk.
    #[cfg(test)]
    pub(super) fn fail_appends(&mut self) -> io::Result<()> {
        self.files =
            [OpenOptions::new().append(true).open("/dev/full")?, OpenOptions::new().append(true).open("/dev/full")?];
        Ok(())
    }

    /// After a commit of everything sealed: empties the sealed file.
    pub(super) fn committed(&mut self) -> io::Result<()> {
        if self.sealed {
            self.files[1 - self.active].set_len(0)?;
            self.sealed = false;
        }
        Ok(())
    }
}

/// Appends a done mark's record to `out`.
pub(super) fn encode_done(row: i64, at_ms: i64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(DONE_BODY as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&row.to_le_bytes());
    out.extend_from_slice(&at_ms.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends an accepted message's record to `out` (nothing, if it is over the size limit).
pub(super) fn encode(record: &Accepted, out: &mut Vec<u8>) -> io::Result<()> {
    let too_long = || io::Error::new(io::ErrorKind::InvalidInput, "a record over the log's size limit");
    let id_len = u32::try_from(record.msg_id.len()).map_err(|_| too_long())?;
    let body_len = HEADER - 8 + record.msg_id.len() + record.payload.len();
    if body_len > MAX_BODY {
        return Err(too_long());
    }
    let start = out.len();
    out.extend_from_slice(&u32::try_from(body_len).map_err(|_| too_long())?.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&record.row.to_le_bytes());
    out.extend_from_slice(&record.received_ms.to_le_bytes());
    out.extend_from_slice(&id_len.to_le_bytes());
    out.extend_from_slice(record.msg_id.as_bytes());
    out.extend_from_slice(record.payload.as_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The records in `bytes`, and whether it ended in a damaged one.
fn decode_all(mut bytes: &[u8]) -> (Vec<Record>, bool) {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        match decode(bytes) {
            Some((record, rest)) => {
                records.push(record);
                bytes = rest;
            }
            None => return (records, true),
        }
    }
    (records, false)
}

fn decode(bytes: &[u8]) -> Option<(Record, &[u8])> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let body_len = usize::try_from(u32_at(0)?).ok()?;
    if body_len != DONE_BODY && !(HEADER - 8..=MAX_BODY).contains(&body_len) {
        return None;
    }
    let body = bytes.get(8..8 + body_len)?;
    if crc32fast::hash(body) != u32_at(4)? {
        return None;
    }
    let i64_at = |at: usize| Some(i64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?));
    let rest = &bytes[8 + body_len..];
    if body_len == DONE_BODY {
        return Some((Record::Done { row: i64_at(0)?, at_ms: i64_at(8)? }, rest));
    }
    let (row, received_ms) = (i64_at(0)?, i64_at(8)?);
    let id_len = usize::try_from(u32::from_le_bytes(body.get(16..20)?.try_into().ok()?)).ok()?;
    let msg_id = std::str::from_utf8(body.get(20..20 + id_len)?).ok()?.to_owned();
    let payload = std::str::from_utf8(body.get(20 + id_len..)?).ok()?.to_owned();
    Some((Record::Accepted(Accepted { row, received_ms, msg_id, payload }), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(row: i64, msg_id: &str, payload: &str) -> Accepted {
        Accepted { row, received_ms: 1_700_000_000_000 + row, msg_id: msg_id.to_owned(), payload: payload.to_owned() }
    }

    fn encoded(records: &[Accepted]) -> Vec<u8> {
        let mut out = Vec::new();
        records.iter().for_each(|r| encode(r, &mut out).expect("encodes"));
        out
    }

    fn as_records(records: &[Accepted]) -> Vec<Record> {
        records.iter().cloned().map(Record::Accepted).collect()
    }

    fn append(log: &mut AcceptedLog, record: &Accepted) {
        log.append(&encoded(std::slice::from_ref(record))).expect("appended");
    }

    fn rows(logged: &Logged) -> Vec<i64> {
        logged.accepted.iter().map(|r| r.row).collect()
    }

    #[test]
    fn records_read_back_as_written_including_empty_and_unicode_fields_and_done_marks() {
        let records = [record(1, "m1", "{}"), record(2, "", ""), record(3, "消息\n\"id\"", "{\"text\":\"会议\"}")];
        let mut bytes = encoded(&records);
        encode_done(2, 1_700_000_000_009, &mut bytes);
        let mut expected = as_records(&records);
        expected.push(Record::Done { row: 2, at_ms: 1_700_000_000_009 });
        assert_eq!(decode_all(&bytes), (expected, false));
    }

    #[test]
    fn a_record_cut_short_anywhere_ends_the_replay_after_the_whole_ones() {
        let records = [record(1, "m1", "{\"a\":1}"), record(2, "m2", "{\"b\":2}")];
        let mut bytes = encoded(&records);
        encode_done(1, 5, &mut bytes);
        let first_len = encoded(&records[..1]).len();
        let two_len = encoded(&records).len();
        for cut in first_len..two_len {
            assert_eq!(decode_all(&bytes[..cut]), (as_records(&records[..1]), cut > first_len), "cut at {cut}");
        }
        for cut in two_len + 1..bytes.len() {
            assert_eq!(decode_all(&bytes[..cut]), (as_records(&records), true), "cut at {cut}");
        }
        for cut in 1..first_len {
            assert_eq!(decode_all(&bytes[..cut]), (Vec::new(), true), "cut at {cut}");
        }
    }

    #[test]
    fn any_flipped_byte_is_caught_and_nothing_after_it_is_trusted() {
        let records = [record(1, "m1", "{\"a\":1}"), record(2, "m2", "{\"b\":2}")];
        let mut bytes = encoded(&records);
        encode_done(2, 7, &mut bytes);
        let mut all = as_records(&records);
        all.push(Record::Done { row: 2, at_ms: 7 });
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let (read, torn) = decode_all(&damaged);
            assert!(torn, "byte {at}");
            assert!(all.starts_with(&read), "byte {at}: only whole records before the damage");
        }
    }

    #[test]
    fn appends_alternate_files_across_commits_and_both_replay() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert!(replay(dir.path()).expect("nothing to read").is_empty());
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        append(&mut log, &record(1, "m1", "one"));
        log.seal();
        append(&mut log, &record(2, "m2", "two"));
        let mut done = Vec::new();
        encode_done(1, 9, &mut done);
        log.append(&done).expect("appended");
        let logged = replay(dir.path()).expect("read");
        assert_eq!((rows(&logged), logged.done.clone()), (vec![1, 2], vec![(1, 9)]), "both files before the commit");
        log.committed().expect("emptied");
        assert_eq!(
            replay(dir.path()).expect("read"),
            Logged { accepted: vec![record(2, "m2", "two")], done: vec![(1, 9)] }
        );
        log.seal();
        append(&mut log, &record(3, "m3", "three"));
        assert_eq!(rows(&replay(dir.path()).expect("read")), [2, 3]);
    }

    #[test]
    fn after_a_failed_commit_appends_stay_put_until_one_succeeds() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        append(&mut log, &record(1, "m1", "one"));
        log.seal();
        // The commit failed: no `committed`. The next commit seals again and takes both.
        append(&mut log, &record(2, "m2", "two"));
        log.seal();
        append(&mut log, &record(3, "m3", "three"));
        assert_eq!(replay(dir.path()).expect("read").accepted.len(), 3);
        log.committed().expect("emptied");
        assert_eq!(rows(&replay(dir.path()).expect("read")), [2, 3]);
    }

    #[test]
    fn opening_empties_what_was_replayed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        append(&mut log, &record(1, "m1", "one"));
        drop(log);
        assert_eq!(replay(dir.path()).expect("read").accepted.len(), 1);
        drop(AcceptedLog::open(dir.path()).expect("opens"));
        assert!(replay(dir.path()).expect("read").is_empty());
    }
}
