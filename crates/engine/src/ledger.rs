//! The ledger: every balance in the economy, as integer cents, and the only code that
//! moves them.
//!
//! Every asset is someone's liability, so the balances of all accounts (households,
//! firms, government, bank, the genesis issuer, clearing accounts) sum to exactly zero
//! at all times. A firm's negative balance is its loan from the bank; the government's
//! negative balance is money it has issued; the issuer's is the money created at genesis.
//!
//! Balances change only through [`Ledger::transfer`] (debit one account, credit another,
//! same amount, or fail as a whole), [`Ledger::issue`] (a transfer out of an issuing
//! account, counted as creation) and [`Ledger::redenominate`] (a change of the unit of
//! account whose rounding residue is booked to a named account). Nothing else has write
//! access, so a non-zero [`Ledger::drift`] can only mean a bug in this module.

use std::fmt;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use crate::workers::{Task, Workers};

/// Index of an account in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u32);

impl AccountId {
    /// The account's index as a `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account #{}", self.0)
    }
}

/// A transfer that could not be made; the ledger is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Amounts are non-negative; direction is given by `from` and `to`.
    #[error("transfer of a negative amount ({amount} cents) from {from} to {to}")]
    NegativeAmount {
        /// Payer.
        from: AccountId,
        /// Payee.
        to: AccountId,
        /// The rejected amount.
        amount: i64,
    },
    /// A balance would leave the `i64` range.
    #[error("transfer of {amount} cents from {from} to {to} would overflow a balance")]
    Overflow {
        /// Payer.
        from: AccountId,
        /// Payee.
        to: AccountId,
        /// The rejected amount.
        amount: i64,
    },
    /// A rescaling would leave the `i64` range.
    #[error("redenomination by {factor} would overflow a balance")]
    RescaleOverflow {
        /// The rejected factor.
        factor: i64,
    },
}

/// Cumulative counts of money created or destroyed by named operations, in cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MoneyAudit {
    /// Money issued at genesis.
    pub genesis: i64,
    /// Residue of all redenominations (booked to the residue account).
    pub redenomination_residue: i64,
}

/// All balances of one economy.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    balances: Vec<i64>,
    audit: MoneyAudit,
    /// The exact sums of each block of accounts, and which blocks may have changed
    /// since (not state: rebuilt whenever it is missing).
    #[serde(skip)]
    blocks: Mutex<Blocks>,
}

/// Accounts per block of [`Blocks`].
const BLOCK: usize = 4096;

/// Each block's sums as last computed, and whether the block may have changed since.
/// Every write to a balance marks its block, so a sum over the ledger recomputes only
/// the blocks marked (a phase that moves only firms' money leaves the households'
/// blocks as they were) and adds up the rest as they stand: the same exact total.
/// The sum of the balances (the books check, after every phase) and of the positive
/// ones (the money held, twice a tick) are kept apart, since the first costs a third of
/// the second.
#[derive(Debug, Default)]
struct Blocks {
    totals: Cache,
    positives: Cache,
}

#[derive(Debug, Default)]
struct Cache {
    sums: Vec<i128>,
    changed: Vec<bool>,
    /// Every block may have changed (set by writes too scattered to mark one by one).
    all: bool,
}

impl Blocks {
    fn fresh(accounts: usize) -> Self {
        let n = accounts.div_ceil(BLOCK);
        let cache = || Cache { sums: vec![0; n], changed: vec![true; n], all: true };
        Blocks { totals: cache(), positives: cache() }
    }

    fn touch(&mut self, blocks: std::ops::RangeInclusive<usize>) {
        for cache in [&mut self.totals, &mut self.positives] {
            match cache.changed.get_mut(blocks.clone()) {
                Some(changed) => changed.fill(true),
                None => cache.all = true,
            }
        }
    }

    fn touch_all(&mut self) {
        self.totals.all = true;
        self.positives.all = true;
    }
}

impl Cache {
    /// The sum over every block of `sum(block)`, recomputing the blocks marked.
    fn sum(&mut self, balances: &[i64], workers: &dyn Workers, sum: impl Fn(&[i64]) -> i128 + Sync) -> i128 {
        let count = balances.len().div_ceil(BLOCK);
        if self.sums.len() != count {
            *self = Cache { sums: vec![0; count], changed: vec![true; count], all: false };
        }
        if self.all {
            self.changed.fill(true);
            self.all = false;
        }
        let mut parts: Vec<(&[i64], &mut i128)> = balances
            .chunks(BLOCK)
            .zip(self.sums.iter_mut())
            .zip(self.changed.iter_mut())
            .filter_map(|((chunk, s), changed)| std::mem::take(changed).then_some((chunk, s)))
            .collect();
        // Eight blocks and more (32,768 accounts) are worth a second core.
        if parts.len() >= 8 && workers.width() >= 2 {
            let mut groups: Vec<&mut [(&[i64], &mut i128)]> = parts.chunks_mut(4).collect();
            let sum = &sum;
            let mut jobs: Vec<_> = groups
                .iter_mut()
                .map(|group| {
                    move || {
                        for (chunk, s) in group.iter_mut() {
                            **s = sum(chunk);
                        }
                    }
                })
                .collect();
            let mut tasks: Vec<Task<'_>> = jobs.iter_mut().map(|job| job as Task<'_>).collect();
            workers.run(&mut tasks);
        } else {
            for (chunk, s) in parts.iter_mut() {
                **s = sum(chunk);
            }
        }
        drop(parts);
        self.sums.iter().sum()
    }
}

impl Clone for Ledger {
    fn clone(&self) -> Self {
        Self {
            balances: self.balances.clone(),
            audit: self.audit,
            blocks: Mutex::new(Blocks::fresh(self.balances.len())),
        }
    }
}

impl PartialEq for Ledger {
    /// Two ledgers are equal when their balances and audits are.
    fn eq(&self, other: &Self) -> bool {
        self.balances == other.balances && self.audit == other.audit
    }
}

impl Eq for Ledger {}

impl Ledger {
    /// A ledger of `accounts` accounts, all at zero.
    pub fn new(accounts: usize) -> Self {
        assert!(u32::try_from(accounts).is_ok(), "at most 2^32 accounts");
        Self { balances: vec![0; accounts], audit: MoneyAudit::default(), blocks: Mutex::new(Blocks::fresh(accounts)) }
    }

    /// Marks the block of account `index` as possibly changed.
    #[inline]
    fn touch(&mut self, index: usize) {
        self.blocks.get_mut().unwrap_or_else(PoisonError::into_inner).touch(index / BLOCK..=index / BLOCK);
    }

    /// Marks every block as possibly changed.
    fn touch_all(&mut self) {
        self.blocks.get_mut().unwrap_or_else(PoisonError::into_inner).touch_all();
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.balances.len()
    }

    /// Whether the ledger has no accounts.
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
    }

    /// One account's balance, in cents.
    #[inline]
    pub fn balance(&self, account: AccountId) -> i64 {
        self.balances[account.index()]
    }

    /// The balances of a contiguous range of accounts (a sector).
    #[inline]
    pub fn balances(&self, range: Range<u32>) -> &[i64] {
        &self.balances[range.start as usize..range.end as usize]
    }

    /// Moves `amount` cents from `from` to `to`, or changes nothing.
    #[inline]
    pub fn transfer(&mut self, from: AccountId, to: AccountId, amount: i64) -> Result<(), LedgerError> {
        if amount < 0 {
            return Err(LedgerError::NegativeAmount { from, to, amount });
        }
        if amount == 0 || from == to {
            return Ok(());
        }
        match (self.balances[from.index()].checked_sub(amount), self.balances[to.index()].checked_add(amount)) {
            (Some(debited), Some(credited)) => {
                self.balances[from.index()] = debited;
                self.balances[to.index()] = credited;
                self.touch(from.index());
                self.touch(to.index());
                Ok(())
            }
            _ => Err(LedgerError::Overflow { from, to, amount }),
        }
    }

    /// Moves `amount` cents from `from` to `to`; a negative amount moves money the other
    /// way (an interest rate below zero, a deposit rate that passes on losses).
    #[inline]
    pub fn transfer_signed(&mut self, from: AccountId, to: AccountId, amount: i64) -> Result<(), LedgerError> {
        if amount >= 0 {
            self.transfer(from, to, amount)
        } else {
            // i64::MIN has no positive counterpart; it could never be a real flow.
            let magnitude = amount.checked_neg().ok_or(LedgerError::Overflow { from, to, amount })?;
            self.transfer(to, from, magnitude)
        }
    }

    /// Moves `amount` cents from `from` to `to` if `from` holds at least that much;
    /// says whether it did. The Boltzmann exchange in one operation, written without a
    /// branch on the balance (half the agents are broke, so that branch would be a coin
    /// flip the processor mispredicts).
    #[inline]
    pub fn give_if_able(&mut self, from: AccountId, to: AccountId, amount: i64) -> Result<bool, LedgerError> {
        if amount < 0 {
            return Err(LedgerError::NegativeAmount { from, to, amount });
        }
        let able = self.balances[from.index()] >= amount;
        let moved = amount * i64::from(able);
        let credited =
            self.balances[to.index()].checked_add(moved).ok_or(LedgerError::Overflow { from, to, amount })?;
        // When `from == to` the credit below lands on the debited balance: net zero.
        self.balances[from.index()] -= moved;
        self.balances[to.index()] = credited - if from == to { moved } else { 0 };
        // Agents exchanging with agents drawn at random touch every block anyway.
        self.touch_all();
        Ok(able)
    }

    /// A batch of transfers between one account, `counterparty`, and each account of
    /// `range` (which must not hold it), booked run by run: `book` gets the range cut into
    /// [`Fan`]s of `run` accounts (the last may be shorter), books every transfer on the
    /// account's side through [`Fan::pay`], possibly on several threads at once, and when it
    /// returns the counterparty's side is booked once, for the total. The balances then
    /// stand exactly as after that many single transfers, whatever the order.
    ///
    /// If `book` fails, the transfers it made stay made (the counterparty's side too, so the
    /// books balance) and its error is returned; the run stops on it, as on any failed
    /// transfer.
    pub fn fan<T, E: From<LedgerError>>(
        &mut self,
        counterparty: AccountId,
        range: Range<u32>,
        run: usize,
        book: impl FnOnce(&mut [Fan<'_>]) -> Result<T, E>,
    ) -> Result<T, E> {
        assert!(!range.contains(&counterparty.0), "a fan's counterparty is outside its range");
        let run = run.max(1);
        self.touch(counterparty.index());
        if !range.is_empty() {
            let blocks = range.start as usize / BLOCK..=(range.end as usize - 1) / BLOCK;
            self.blocks.get_mut().unwrap_or_else(PoisonError::into_inner).touch(blocks);
        }
        let start = range.start as usize;
        let mut fans: Vec<Fan<'_>> = self.balances[start..range.end as usize]
            .chunks_mut(run)
            .enumerate()
            .map(|(c, balances)| Fan { balances, offset: c * run, first: range.start, counterparty, net: 0 })
            .collect();
        let booked = book(&mut fans);
        let net: i128 = fans.iter().map(|f| f.net).sum();
        drop(fans);
        let side = &mut self.balances[counterparty.index()];
        match i64::try_from(i128::from(*side) - net) {
            Ok(balance) => *side = balance,
            Err(_) => {
                let amount = i64::try_from(net).unwrap_or(i64::MAX);
                return Err(LedgerError::Overflow { from: counterparty, to: AccountId(range.start), amount }.into());
            }
        }
        booked
    }

    /// Genesis: `issuer` creates `amount` cents and pays them to `to`. Counted in the
    /// audit, since it is the one way money enters the economy from nowhere.
    pub fn issue(&mut self, issuer: AccountId, to: AccountId, amount: i64) -> Result<(), LedgerError> {
        self.transfer(issuer, to, amount)?;
        self.audit.genesis += amount;
        Ok(())
    }

    /// Changes the unit of account: every balance is divided by `divisor` (rounded half
    /// away from zero) and the rounding residue is booked to `residue`, so the books
    /// still balance to the cent. Dynamically neutral: the model scales its prices and
    /// wages by the same factor.
    pub fn redenominate(&mut self, divisor: i64, residue: AccountId) {
        assert!(divisor > 0, "redenomination divisor must be positive");
        let mut sum: i128 = 0;
        for b in &mut self.balances {
            *b = crate::apportion::divide_rounding(*b, divisor);
            sum += i128::from(*b);
        }
        // |sum| <= accounts/2, far inside i64.
        let residue_cents = -(sum as i64);
        self.balances[residue.index()] += residue_cents;
        self.audit.redenomination_residue += residue_cents;
        self.touch_all();
    }

    /// Changes the unit of account the other way (after deflation): every balance is
    /// multiplied by `factor`. Exact, so there is no residue; fails whole on overflow.
    pub fn rescale_up(&mut self, factor: i64) -> Result<(), LedgerError> {
        assert!(factor > 0, "rescale factor must be positive");
        let scaled: Option<Vec<i64>> = self.balances.iter().map(|b| b.checked_mul(factor)).collect();
        self.balances = scaled.ok_or(LedgerError::RescaleOverflow { factor })?;
        self.touch_all();
        Ok(())
    }

    /// All money held: the sum of the positive balances, in cents (the negative ones sum
    /// to minus the same amount). A tick's flows are bounded by what is held, so keeping
    /// this well inside `i64` keeps every flow bookable.
    pub fn money_held(&self) -> i128 {
        exact_sums(&self.balances).positive
    }

    /// Sum of every balance, computed exactly. Zero when the books balance.
    pub fn drift(&self) -> i128 {
        exact_sums(&self.balances).total
    }

    /// [`Ledger::drift`], summing again only the blocks of accounts that may have
    /// changed since the last time (on the workers when there are enough of them for a
    /// second core to pay; the sums are exact, so the split changes nothing).
    pub fn drift_on(&self, workers: &dyn Workers) -> i128 {
        let mut blocks = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        blocks.totals.sum(&self.balances, workers, |chunk| exact_sums(chunk).total)
    }

    /// [`Ledger::money_held`], likewise.
    pub fn money_held_on(&self, workers: &dyn Workers) -> i128 {
        let mut blocks = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        blocks.positives.sum(&self.balances, workers, |chunk| exact_sums(chunk).positive)
    }

    /// Cumulative money created and residues booked by named operations.
    pub fn audit(&self) -> MoneyAudit {
        self.audit
    }
}

/// One run of a [`Ledger::fan`]: consecutive accounts of its range, each paid by (or
/// paying) the fan's counterparty. Runs sit a cache line apart (two 64-byte lines, as the
/// processor prefetches them in pairs), so that threads booking neighbouring runs never
/// write to the same line.
#[derive(Debug)]
#[repr(align(128))]
pub struct Fan<'a> {
    balances: &'a mut [i64],
    /// Position of this run's first account in the fan's range.
    offset: usize,
    /// The range's first account.
    first: u32,
    counterparty: AccountId,
    /// What the counterparty has paid out so far.
    net: i128,
}

impl Fan<'_> {
    /// Position of this run's first account in the fan's range.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Accounts in this run.
    pub fn len(&self) -> usize {
        self.balances.len()
    }

    /// Whether the run has no account.
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
    }

    /// The run's balances, as they stand.
    pub fn balances(&self) -> &[i64] {
        self.balances
    }

    /// The counterparty pays `amount` cents to the run's `k`-th account (a negative
    /// amount: the account pays the counterparty), or nothing changes.
    #[inline]
    pub fn pay(&mut self, k: usize, amount: i64) -> Result<(), LedgerError> {
        let balance = &mut self.balances[k];
        match balance.checked_add(amount) {
            Some(b) => {
                *balance = b;
                self.net += i128::from(amount);
                Ok(())
            }
            None => {
                let account = AccountId(self.first + (self.offset + k) as u32);
                let (from, to) = if amount >= 0 { (self.counterparty, account) } else { (account, self.counterparty) };
                Err(LedgerError::Overflow { from, to, amount: amount.checked_abs().unwrap_or(i64::MAX) })
            }
        }
    }
}

/// Exact sums of a run of balances (see [`exact_sums`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Σ b.
    pub total: i128,
    /// Σ max(b, 0); the negative balances sum to `total − positive`.
    pub positive: i128,
}

impl std::ops::Add for Sums {
    type Output = Sums;
    fn add(self, other: Sums) -> Sums {
        Sums { total: self.total + other.total, positive: self.positive + other.positive }
    }
}

/// The sum and the sum of the positive values of `xs`, exactly, for fewer than 2^32 values.
///
/// This runs over every balance after every phase, so it is written to vectorise even
/// on baseline x86-64 (which has no 64-bit arithmetic shift in its vector unit): each
/// value's bits are read as unsigned and split into their high and low 32 bits, summed
/// in separate 64-bit lanes that cannot overflow, with the count of negative values
/// (whose unsigned reading is 2^64 too large); then Σb = 2^32·Σhi + Σlo − 2^64·negatives.
pub fn exact_sums(xs: &[i64]) -> Sums {
    const LOW: u64 = 0xFFFF_FFFF;
    let (mut high, mut low, mut negatives) = (0u64, 0u64, 0u64);
    let (mut magnitude_high, mut magnitude_low) = (0u64, 0u64);
    for &x in xs {
        let bits = x as u64;
        high += bits >> 32;
        low += bits & LOW;
        negatives += bits >> 63;
        // |x| (at most 2^63, so its halves fit the lanes too): the positive values sum
        // to (Σx + Σ|x|)/2. An absolute value vectorises on baseline x86-64; a
        // comparison with zero of 64-bit lanes would not.
        let magnitude = x.unsigned_abs();
        magnitude_high += magnitude >> 32;
        magnitude_low += magnitude & LOW;
    }
    let total = (i128::from(high) << 32) + i128::from(low) - (i128::from(negatives) << 64);
    let magnitudes = (i128::from(magnitude_high) << 32) + i128::from(magnitude_low);
    Sums { total, positive: (total + magnitudes) / 2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fan_books_both_sides() {
        let mut ledger = Ledger::new(6);
        ledger.issue(A, B, 1_000).unwrap();
        ledger
            .fan(B, 2..6, 3, |fans| {
                assert_eq!(fans.iter().map(|f| (f.offset(), f.len())).collect::<Vec<_>>(), [(0, 3), (3, 1)]);
                fans[0].pay(0, 100)?;
                fans[0].pay(2, 50)?;
                fans[1].pay(0, 7)?;
                fans[1].pay(0, -2)?;
                Ok::<_, LedgerError>(())
            })
            .unwrap();
        assert_eq!(ledger.balances(0..6), &[-1_000, 845, 100, 0, 50, 5]);
        assert_eq!(ledger.drift(), 0);
        let err = ledger.fan(B, 2..6, 4, |fans| fans[0].pay(0, i64::MAX)).unwrap_err();
        assert!(matches!(err, LedgerError::Overflow { from: B, to: C, .. }), "{err}");
        assert_eq!(ledger.drift(), 0, "a failed fan leaves the books balanced");
    }

    #[test]
    fn block_sums_follow_every_write() {
        let n = 3 * BLOCK + 17;
        let mut ledger = Ledger::new(n);
        let sequential = crate::workers::Sequential;
        let check = |l: &Ledger| {
            assert_eq!(l.drift_on(&sequential), exact_sums(&l.balances).total);
            assert_eq!(l.money_held_on(&sequential), exact_sums(&l.balances).positive);
        };
        ledger.issue(A, AccountId(5), 1_000_000).unwrap();
        check(&ledger);
        ledger.transfer(AccountId(5), AccountId(2 * BLOCK as u32 + 1), 777).unwrap();
        check(&ledger);
        ledger
            .fan(A, BLOCK as u32..n as u32, 100, |fans| {
                fans.iter_mut().try_for_each(|f| (0..f.len()).try_for_each(|k| f.pay(k, 3)))
            })
            .unwrap();
        check(&ledger);
        ledger.give_if_able(AccountId(5), AccountId(n as u32 - 1), 10).unwrap();
        check(&ledger);
        ledger.redenominate(10, AccountId(1));
        check(&ledger);
        ledger.rescale_up(10).unwrap();
        check(&ledger);
        let copy = ledger.clone();
        check(&copy);
        assert_eq!(ledger.drift_on(&sequential), 0);
    }

    #[test]
    fn exact_sums_are_exact() {
        let xs = [i64::MAX, i64::MIN, -1, 1, 0, i64::MAX, -5_000_000_000, 7];
        let total: i128 = xs.iter().map(|&x| i128::from(x)).sum();
        let positive: i128 = xs.iter().map(|&x| i128::from(x.max(0))).sum();
        assert_eq!(exact_sums(&xs), Sums { total, positive });
        assert_eq!(exact_sums(&[]), Sums::default());
    }

    const A: AccountId = AccountId(0);
    const B: AccountId = AccountId(1);
    const C: AccountId = AccountId(2);

    #[test]
    fn transfers_keep_the_sum_at_zero() {
        let mut ledger = Ledger::new(3);
        ledger.issue(A, B, 1_000).unwrap();
        ledger.transfer(B, C, 300).unwrap();
        ledger.transfer_signed(B, C, -50).unwrap();
        assert_eq!(ledger.balance(A), -1_000);
        assert_eq!(ledger.balance(B), 750);
        assert_eq!(ledger.balance(C), 250);
        assert_eq!(ledger.drift(), 0);
        assert_eq!(ledger.audit().genesis, 1_000);
    }

    #[test]
    fn a_failed_transfer_changes_nothing() {
        let mut ledger = Ledger::new(3);
        ledger.transfer(A, B, i64::MAX).unwrap();
        let before = ledger.clone();
        assert!(matches!(ledger.transfer(C, B, 1), Err(LedgerError::Overflow { .. })));
        assert!(matches!(ledger.transfer(A, B, -1), Err(LedgerError::NegativeAmount { .. })));
        assert_eq!(ledger.balances(0..3), before.balances(0..3));
    }

    #[test]
    fn redenomination_books_its_residue() {
        let mut ledger = Ledger::new(4);
        ledger.issue(A, B, 15).unwrap();
        ledger.issue(A, C, 14).unwrap();
        ledger.redenominate(10, AccountId(3));
        // -29 -> -3, 15 -> 2, 14 -> 1: sum 0, residue 0.
        assert_eq!(ledger.balances(0..4), &[-3, 2, 1, 0]);
        ledger.transfer(B, C, 1).unwrap();
        ledger.transfer(C, B, 0).unwrap();
        ledger.redenominate(2, AccountId(3));
        // -3 -> -2, 1 -> 1, 2 -> 1: residue 0 again; drift always zero.
        assert_eq!(ledger.drift(), 0);
        ledger.rescale_up(100).unwrap();
        assert_eq!(ledger.drift(), 0);
    }

    #[test]
    fn give_if_able_moves_only_what_is_there() {
        let mut ledger = Ledger::new(3);
        ledger.issue(A, B, 100).unwrap();
        assert!(ledger.give_if_able(B, C, 100).unwrap());
        assert!(!ledger.give_if_able(B, C, 100).unwrap());
        assert!(ledger.give_if_able(C, C, 100).unwrap());
        assert_eq!(ledger.balances(0..3), &[-100, 0, 100]);
    }

    #[test]
    fn drift_is_exact_at_the_extremes() {
        let mut ledger = Ledger::new(4);
        ledger.transfer(A, B, i64::MAX).unwrap();
        ledger.transfer(C, AccountId(3), i64::MAX).unwrap();
        assert_eq!(ledger.drift(), 0);
        // A balance that leaks a cent is seen, however large the others are.
        ledger.balances[1] -= 1;
        assert_eq!(ledger.drift(), -1);
        ledger.balances[0] += 3;
        assert_eq!(ledger.drift(), 2);
    }
}
