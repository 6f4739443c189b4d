//! The accepted-message log: what makes an acknowledgement durable. Each accepted message is one
//! `write` appended to a plain file before the ack, and reaches SQLite with the writer's next
//! group commit; two files take turns, so the one whose records are committed is emptied while
//! the other takes appends. At start both are replayed into the database, then emptied.
//!
//! Why not a SQLite commit per ack: each costs thread wake-ups, `fcntl` locks and several
//! `pwrite`s on the writer thread and back, where the append is one `write` on the calling task
//! (BENCHMARKS.md has the counts).
//!
//! A record: its body's length (u32, little-endian), the CRC-32 of the body, then the body: the
//! row (i64), the time received (ms since the epoch, i64), the `msgId`'s length (u32), the
//! `msgId`, and the payload to the end. A record cut short by a crash, or one whose CRC does not
//! match, ends the replay of its file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};

/// The two files, in the data directory beside the database.
const FILES: [&str; 2] = ["accepted-0.log", "accepted-1.log"];
/// The fixed part of a record: length, CRC, row, time, `msgId` length.
const HEADER: usize = 4 + 4 + 8 + 8 + 4;
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

/// The two files: appends go to `files[active]`; the other is empty, or holds records the
/// writer is committing (`sealed`).
pub(super) struct AcceptedLog {
    files: [File; 2],
    active: usize,
    sealed: bool,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for AcceptedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptedLog").field("active", &self.active).field("sealed", &self.sealed).finish()
    }
}

fn paths(dir: &Path) -> [PathBuf; 2] {
    FILES.map(|name| dir.join(name))
}

/// Every record both files hold, in the order they were written (oldest file first).
pub(super) fn replay(dir: &Path) -> io::Result<Vec<Accepted>> {
    read(dir, |path| {
        tracing::warn!(
            file = %path.display(),
            "the accepted-message log ends in a damaged record (a crash mid-write): what follows it is skipped"
        );
    })
}

/// What both files hold now, read while the bot may be appending (a backup's): a record being
/// written as they are read ends the file's records, and is no damage.
pub(super) fn snapshot(dir: &Path) -> io::Result<Vec<Accepted>> {
    read(dir, |_| {})
}

fn read(dir: &Path, torn_at: impl Fn(&Path)) -> io::Result<Vec<Accepted>> {
    let mut per_file = Vec::new();
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
        per_file.push(decoded);
    }
    // The file with the older first row was written first.
    per_file.sort_by_key(|decoded| decoded.first().map_or(i64::MAX, |record| record.row));
    Ok(per_file.into_iter().flatten().collect())
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
        Ok(Self { files: [open(&first)?, open(&second)?], active: 0, sealed: false, buffer: Vec::with_capacity(2048) })
    }

    /// Appends one record in one `write`. Once it returns, a killed process loses nothing of it.
    pub(super) fn append(&mut self, record: &Accepted) -> io::Result<()> {
        self.buffer.clear();
        encode(record, &mut self.buffer)?;
        self.files[self.active].write_all(&self.buffer)
    }

    /// Before a commit of everything appended so far: turns appends to the other file, unless
    /// it still holds records not yet committed (a commit failed), in which case this commit
    /// takes those too and appends stay where they are.
    pub(super) fn seal(&mut self) {
        if !self.sealed {
            self.active = 1 - self.active;
            self.sealed = true;
        }
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

fn encode(record: &Accepted, out: &mut Vec<u8>) -> io::Result<()> {
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
fn decode_all(mut bytes: &[u8]) -> (Vec<Accepted>, bool) {
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

fn decode(bytes: &[u8]) -> Option<(Accepted, &[u8])> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let body_len = usize::try_from(u32_at(0)?).ok()?;
    if !(HEADER - 8..=MAX_BODY).contains(&body_len) {
        return None;
    }
    let body = bytes.get(8..8 + body_len)?;
    if crc32fast::hash(body) != u32_at(4)? {
        return None;
    }
    let i64_at = |at: usize| Some(i64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?));
    let (row, received_ms) = (i64_at(0)?, i64_at(8)?);
    let id_len = usize::try_from(u32::from_le_bytes(body.get(16..20)?.try_into().ok()?)).ok()?;
    let msg_id = std::str::from_utf8(body.get(20..20 + id_len)?).ok()?.to_owned();
    let payload = std::str::from_utf8(body.get(20 + id_len..)?).ok()?.to_owned();
    Some((Accepted { row, received_ms, msg_id, payload }, &bytes[8 + body_len..]))
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

    #[test]
    fn records_read_back_as_written_including_empty_and_unicode_fields() {
        let records = [record(1, "m1", "{}"), record(2, "", ""), record(3, "消息\n\"id\"", "{\"text\":\"会议\"}")];
        assert_eq!(decode_all(&encoded(&records)), (records.to_vec(), false));
    }

    #[test]
    fn a_record_cut_short_anywhere_ends_the_replay_after_the_whole_ones() {
        let records = [record(1, "m1", "{\"a\":1}"), record(2, "m2", "{\"b\":2}")];
        let bytes = encoded(&records);
        let first_len = encoded(&records[..1]).len();
        for cut in first_len..bytes.len() {
            assert_eq!(decode_all(&bytes[..cut]), (records[..1].to_vec(), cut > first_len), "cut at {cut}");
        }
        for cut in 1..first_len {
            assert_eq!(decode_all(&bytes[..cut]), (Vec::new(), true), "cut at {cut}");
        }
    }

    #[test]
    fn any_flipped_byte_is_caught_and_nothing_after_it_is_trusted() {
        let records = [record(1, "m1", "{\"a\":1}"), record(2, "m2", "{\"b\":2}")];
        let bytes = encoded(&records);
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let (read, torn) = decode_all(&damaged);
            assert!(torn, "byte {at}");
            assert!(records.starts_with(&read), "byte {at}: only whole records before the damage");
        }
    }

    #[test]
    fn appends_alternate_files_across_commits_and_both_replay_oldest_first() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert!(replay(dir.path()).expect("nothing to read").is_empty());
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        log.append(&record(1, "m1", "one")).expect("appended");
        log.seal();
        log.append(&record(2, "m2", "two")).expect("appended");
        assert_eq!(replay(dir.path()).expect("read").len(), 2, "both files before the commit");
        log.committed().expect("emptied");
        assert_eq!(replay(dir.path()).expect("read"), [record(2, "m2", "two")]);
        log.seal();
        log.append(&record(3, "m3", "three")).expect("appended");
        assert_eq!(replay(dir.path()).expect("read").iter().map(|r| r.row).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn after_a_failed_commit_appends_stay_put_until_one_succeeds() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        log.append(&record(1, "m1", "one")).expect("appended");
        log.seal();
        // The commit failed: no `committed`. The next commit seals again and takes both.
        log.append(&record(2, "m2", "two")).expect("appended");
        log.seal();
        log.append(&record(3, "m3", "three")).expect("appended");
        assert_eq!(replay(dir.path()).expect("read").len(), 3);
        log.committed().expect("emptied");
        assert_eq!(replay(dir.path()).expect("read").iter().map(|r| r.row).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn opening_empties_what_was_replayed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        log.append(&record(1, "m1", "one")).expect("appended");
        drop(log);
        assert_eq!(replay(dir.path()).expect("read").len(), 1);
        drop(AcceptedLog::open(dir.path()).expect("opens"));
        assert!(replay(dir.path()).expect("read").is_empty());
    }
}
