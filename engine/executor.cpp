#include "engine/executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "engine/secrets.h"

namespace converge {
namespace {

bool is_change(Action a) {
  return a == Action::kCreate || a == Action::kUpdate || a == Action::kDelete;
}

bool needs_work(const PlannedResource& r) { return is_change(r.action) || r.deferred; }

// A deferred check, judged on what was observed now that its dependencies are applied.
ResourceOutcome judge_check(const PlannedResource& r, const Observation& o) {
  ResourceOutcome out;
  out.attempts = 1;
  if (o.error) {
    out.outcome = Outcome::kFailed;
    out.error = Error(*o.error).on(r.id);
    return out;
  }
  bool restart = false;
  std::string why = o.exists ? check_failure(*r.type, r.desired, o.attrs, &restart) : "not found";
  if (why.empty()) return out;  // passed: a no-op
  out.outcome = Outcome::kFailed;
  out.error = Error::Conflict("check failed: " + why + (o.note.empty() ? "" : " (" + o.note + ")"))
                  .on(r.id);
  return out;
}

// The request for one change, with its secrets resolved for this call only.
Result<ApplyRequest> make_request(const PlannedResource& r, const ExecOptions& opt) {
  ApplyRequest req;
  req.resource = r.view();
  req.action = r.action;
  req.before = r.before;
  for (const auto& c : r.changes) req.changed.push_back(c.attr);
  if (r.action == Action::kCreate || r.action == Action::kUpdate) {
    for (const auto& a : r.type->attrs) {
      if (a.type != AttrType::kSecret) continue;
      auto it = r.desired.find(a.name);
      if (it == r.desired.end() || it->second.is_null()) continue;
      auto s = resolve_secret(it->second.text(), opt.secret_base_dir);
      if (!s.ok()) return Error(s.error()).on(r.id);
      req.secrets[a.name] = std::move(*s);
    }
  }
  return req;
}

// Whether a change that failed transiently has in fact been made: what is observed now is what
// the change was to leave (a lost answer to a call that succeeded).
bool as_desired(const PlannedResource& r, const Observation& o) {
  if (o.error) return false;
  if (r.action == Action::kDelete) return !o.exists;
  return o.exists && diff(*r.type, r.desired, o.attrs, /*creating=*/false).empty();
}

// One attempt of one provider call for one change or a batch of them, with exception capture.
// Each change is judged on its own: one that failed transiently and has attempts left is
// marked `retry` (after the backoff its attempt number calls for, waited here on the worker);
// the scheduler then observes it before sending it again. `tries[k]`: earlier calls for idx[k].
struct Attempt {
  ResourceOutcome outcome;
  bool retry = false;
};
std::vector<Attempt> apply_changes(const Plan& plan, const std::vector<size_t>& idx,
                                   const std::vector<int>& tries, Provider& p,
                                   const ExecOptions& opt) {
  std::vector<Attempt> out(idx.size());
  std::vector<size_t> todo;  // positions in idx to send
  std::vector<ApplyRequest> reqs;
  for (size_t k = 0; k < idx.size(); ++k) {
    out[k].outcome.attempts = tries[k] + 1;
    auto req = make_request(plan.resources[idx[k]], opt);
    if (!req.ok()) {
      out[k].outcome.outcome = Outcome::kFailed;
      out[k].outcome.error = req.error();
      continue;
    }
    todo.push_back(k);
    reqs.push_back(std::move(*req));
  }
  if (todo.empty()) return out;
  std::vector<Status> st(todo.size());
  try {
    if (reqs.size() == 1) {
      st[0] = p.apply(reqs[0]).status;
    } else {
      auto resp = p.apply_batch(reqs);
      for (size_t k = 0; k < st.size(); ++k)
        st[k] = k < resp.size() ? std::move(resp[k].status)
                                : Status(Error::Internal("provider gave no answer"));
    }
  } catch (const std::exception& e) {
    for (auto& s : st) s = Error::Internal(std::string("provider threw: ") + e.what());
  }
  int wait_for = 0;  // the attempt number whose backoff to wait, 0: none
  for (size_t k = 0; k < todo.size(); ++k) {
    Attempt& a = out[todo[k]];
    const std::string& id = plan.resources[idx[todo[k]]].id;
    if (st[k].ok()) {
      a.outcome.outcome = Outcome::kApplied;
      continue;
    }
    a.outcome.outcome = Outcome::kFailed;
    a.outcome.error = Error(st[k].error()).on(id);
    if (st[k].error().kind != ErrorKind::kTransient || a.outcome.attempts >= opt.attempts) continue;
    a.retry = true;
    wait_for = std::max(wait_for, a.outcome.attempts);
    spdlog::warn("{}: transient error, observing it and retrying: {}", id, st[k].error().message);
  }
  if (wait_for > 0) std::this_thread::sleep_for(opt.backoff * (1 << (wait_for - 1)));
  return out;
}

// The state of one execute(). Everything but `finished_` belongs to the scheduler thread.
class Scheduler {
 public:
  Scheduler(const Plan& plan, ProviderMap& providers, ApplyObserver& observer,
            const ExecOptions& opt)
      : plan_(plan),
        providers_(providers),
        observer_(observer),
        opt_(opt),
        n_(plan.resources.size()),
        dependents_(n_),
        waiting_(n_, 0),
        state_(n_, kWaiting),
        outcomes_(n_),
        failed_dep_(n_),
        tries_(n_, 0),
        pool_(static_cast<size_t>(std::max(1, opt.parallelism))) {}

  ApplySummary run(std::vector<ResourceOutcome>* outcomes_out) {
    link();
    while (done_ < n_ && !stop_) {
      settle_ready();
      if (!stop_) start_calls();
      if (!stop_) run_checks();
      if (stop_ || done_ >= n_) break;
      if (!ready_.empty()) continue;
      if (running_ == 0) break;  // nothing runs and nothing is ready: only reachable on a cycle
      collect();
    }
    if (stop_) fail_the_rest();
    while (running_ > 0) collect();
    if (!stop_ && done_ < n_) fail_cycle();
    pool_.join();
    if (outcomes_out) *outcomes_out = std::move(outcomes_);
    return sum_;
  }

 private:
  enum State : char { kWaiting, kRunning, kDone };
  using Call = std::vector<size_t>;  // positions in plan.resources, one provider call

  // Dependencies by position; what others wait for goes first (stable: plan order otherwise),
  // so that their dependents become ready early and go out beside the rest instead of after it.
  void link() {
    std::unordered_map<std::string, size_t> pos;
    pos.reserve(n_);
    for (size_t i = 0; i < n_; ++i) pos[plan_.resources[i].id] = i;
    for (size_t i = 0; i < n_; ++i)
      for (const auto& d : plan_.resources[i].depends_on)
        if (auto it = pos.find(d); it != pos.end()) {
          dependents_[it->second].push_back(i);
          ++waiting_[i];
        }
    std::vector<size_t> initial;
    for (size_t i = 0; i < n_; ++i)
      if (waiting_[i] == 0) initial.push_back(i);
    std::stable_sort(initial.begin(), initial.end(), [&](size_t a, size_t b) {
      return dependents_[a].size() > dependents_[b].size();
    });
    ready_.assign(initial.begin(), initial.end());
  }

  // observer.batch_end(); the first failure stops the run (later ones can only be logged).
  bool end_batch() {
    Status st = observer_.batch_end();
    if (st.ok()) return true;
    if (!stop_)
      stop_ = st.error();
    else
      spdlog::error("{}", st.error().str());
    return false;
  }

  void complete(size_t i, ResourceOutcome o) {
    switch (o.outcome) {
      case Outcome::kApplied:
        ++sum_.applied;
        break;
      case Outcome::kFailed:
        ++sum_.failed;
        break;
      case Outcome::kSkipped:
        ++sum_.skipped;
        break;
      case Outcome::kBlocked:
        ++sum_.blocked;
        break;
      case Outcome::kNoop:
        ++sum_.noop;
        break;
    }
    bool bad = o.outcome == Outcome::kFailed || o.outcome == Outcome::kSkipped;
    observer_.finished(plan_.resources[i], o);
    outcomes_[i] = std::move(o);
    state_[i] = kDone;
    ++done_;
    for (size_t d : dependents_[i]) {
      if (bad && failed_dep_[d].empty()) failed_dep_[d] = plan_.resources[i].id;
      if (--waiting_[d] == 0) ready_.push_back(d);
    }
  }

  // What a change that the run's stop kept from its provider is reported as.
  ResourceOutcome stopped(const PlannedResource& r) const {
    ResourceOutcome o;
    o.outcome = Outcome::kFailed;
    Error e = *stop_;
    e.message =
        std::string(r.deferred ? "not checked" : "not applied") + ", the run stopped: " + e.message;
    o.error = std::move(e).on(r.id);
    return o;
  }

  void fail(const Call& call) {
    observer_.batch_begin();
    for (size_t i : call) complete(i, stopped(plan_.resources[i]));
    end_batch();
  }

  // Every resource neither done nor running: changes fail with the stop's error, the rest is
  // reported as it was planned.
  void fail_the_rest() {
    observer_.batch_begin();
    for (size_t i = 0; i < n_; ++i) {
      if (state_[i] != kWaiting) continue;
      const PlannedResource& r = plan_.resources[i];
      if (needs_work(r)) {
        complete(i, stopped(r));
      } else {
        ResourceOutcome o;
        o.outcome = r.action == Action::kBlocked ? Outcome::kBlocked : Outcome::kNoop;
        complete(i, std::move(o));
      }
    }
    end_batch();
  }

  // What is still waiting when nothing runs and nothing is ready waits on a dependency cycle
  // (a plan file can hold one; a manifest cannot): its changes fail, naming what waits.
  void fail_cycle() {
    std::vector<std::string> stuck;
    for (size_t i = 0; i < n_; ++i)
      if (state_[i] == kWaiting) stuck.push_back(plan_.resources[i].id);
    std::string names;
    for (size_t k = 0; k < stuck.size() && k < 5; ++k) names += (k ? ", " : "") + stuck[k];
    if (stuck.size() > 5) names += " and " + std::to_string(stuck.size() - 5) + " more";
    stop_ = Error::Invalid("the plan's dependencies form a cycle (" + names + " wait on it)",
                           "make the plan again with `converge plan --out`");
    spdlog::error("{}", stop_->message);
    fail_the_rest();
  }

  // Settles everything ready that needs no provider call; queues the changes and the checks.
  void settle_ready() {
    observer_.batch_begin();
    while (!ready_.empty()) {
      size_t i = ready_.front();
      ready_.pop_front();
      const PlannedResource& r = plan_.resources[i];
      ResourceOutcome o;
      if (!failed_dep_[i].empty() && needs_work(r)) {
        o.outcome = Outcome::kSkipped;
        o.because = failed_dep_[i];
      } else if (!needs_work(r)) {
        o.outcome = r.action == Action::kBlocked ? Outcome::kBlocked : Outcome::kNoop;
      } else if (!providers_.count(r.provider)) {
        o.outcome = Outcome::kFailed;
        o.error = Error::Internal("no provider '" + r.provider + "'").on(r.id);
      } else {
        if (r.deferred)
          checks_.push_back(i);
        else
          waiting_room_[r.provider].push_back(i);
        continue;
      }
      complete(i, std::move(o));
    }
    end_batch();
  }

  int cap(const std::string& prov) const {
    auto it = providers_.find(prov);
    return it == providers_.end() ? 1 : std::max(1, it->second->max_parallel());
  }

  // Starts what fits under the caps: one call per change, or per batch of changes for a
  // provider that takes batches (the ready changes spread over the calls that fit). A call's
  // intents are recorded (batch_end) before it starts.
  void start_calls() {
    for (auto& [prov, q] : waiting_room_) {
      int room = cap(prov) - running_per_provider_[prov];
      Provider* p = providers_.at(prov).get();
      size_t max_batch = std::max<size_t>(1, p->max_batch());
      while (!q.empty() && room > 0 && running_ < opt_.parallelism) {
        size_t slots = static_cast<size_t>(std::min(room, opt_.parallelism - running_));
        size_t take = std::min(max_batch, (q.size() + slots - 1) / slots);
        Call call;
        observer_.batch_begin();
        while (!q.empty() && call.size() < take) {
          size_t i = q.front();
          q.pop_front();
          if (tries_[i] == 0) observer_.started(plan_.resources[i]);  // a retry's intent stands
          call.push_back(i);
        }
        if (!end_batch()) {
          fail(call);
          return;
        }
        --room;
        ++running_;
        ++running_per_provider_[prov];
        for (size_t i : call) state_[i] = kRunning;
        std::vector<int> tries;
        tries.reserve(call.size());
        for (size_t i : call) tries.push_back(tries_[i]);
        boost::asio::post(pool_, [this, p, call = std::move(call), tries = std::move(tries)] {
          std::vector<Attempt> o = apply_changes(plan_, call, tries, *p, opt_);
          std::lock_guard<std::mutex> lk(mu_);
          finished_.emplace_back(call, std::move(o));
          cv_.notify_one();
        });
      }
    }
  }

  // Deferred checks: observed here, on the scheduler thread, batched by provider and type.
  void run_checks() {
    if (checks_.empty()) return;
    Call call = std::move(checks_);
    checks_.clear();
    observer_.batch_begin();
    for (size_t i : call) observer_.started(plan_.resources[i]);
    if (!end_batch()) {
      fail(call);
      return;
    }
    std::vector<ObserveItem> items;
    items.reserve(call.size());
    for (size_t i : call) items.push_back({plan_.resources[i].view(), plan_.resources[i].provider});
    std::vector<Observation> seen = observe_all(items, providers_, nullptr);
    observer_.batch_begin();
    for (size_t k = 0; k < call.size(); ++k)
      complete(call[k], judge_check(plan_.resources[call[k]], seen[k]));
    end_batch();
  }

  // Waits for at least one call to finish and reports every finished one; what is to be retried
  // is observed first.
  void collect() {
    std::deque<std::pair<Call, std::vector<Attempt>>> results;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return !finished_.empty(); });
      results.swap(finished_);
    }
    Call retry;
    std::vector<ResourceOutcome> retry_outcomes;
    observer_.batch_begin();
    for (auto& [call, outs] : results) {
      --running_;
      --running_per_provider_[plan_.resources[call.front()].provider];
      for (size_t k = 0; k < call.size(); ++k) {
        if (outs[k].retry && !stop_) {
          retry.push_back(call[k]);
          retry_outcomes.push_back(std::move(outs[k].outcome));
        } else {
          complete(call[k], std::move(outs[k].outcome));
        }
      }
    }
    end_batch();
    if (!retry.empty()) recheck(retry, std::move(retry_outcomes));
  }

  // Changes that failed transiently: the failed call may have made them all the same (a timeout
  // after the write), and sending a create again would then fail as "already exists". Observed
  // here, on the scheduler thread: one already as desired is applied; the others go out again
  // (their intents are recorded already).
  void recheck(const Call& call, std::vector<ResourceOutcome> last) {
    std::vector<ObserveItem> items;
    items.reserve(call.size());
    for (size_t i : call) items.push_back({plan_.resources[i].view(), plan_.resources[i].provider});
    std::vector<Observation> seen = observe_all(items, providers_, nullptr);
    observer_.batch_begin();
    for (size_t k = 0; k < call.size(); ++k) {
      size_t i = call[k];
      const PlannedResource& r = plan_.resources[i];
      tries_[i] = last[k].attempts;
      if (as_desired(r, seen[k])) {
        spdlog::info("{}: observed as planned after a transient error: the change was made", r.id);
        last[k].outcome = Outcome::kApplied;
        last[k].error.reset();
        complete(i, std::move(last[k]));
        continue;
      }
      state_[i] = kWaiting;
      waiting_room_[r.provider].push_back(i);
    }
    end_batch();
  }

  const Plan& plan_;
  ProviderMap& providers_;
  ApplyObserver& observer_;
  const ExecOptions& opt_;
  const size_t n_;
  std::vector<std::vector<size_t>> dependents_;
  std::vector<int> waiting_;  // dependencies not yet done
  std::vector<State> state_;
  std::vector<ResourceOutcome> outcomes_;
  std::vector<std::string> failed_dep_;  // first failed/skipped dependency, if any
  std::vector<int> tries_;               // provider calls made so far for each change
  std::deque<size_t> ready_;
  // Ready changes that wait for room, per provider: handing work out costs O(providers) per
  // wake-up, however many changes wait.
  std::map<std::string, std::deque<size_t>> waiting_room_;
  Call checks_;  // ready deferred checks
  std::map<std::string, int> running_per_provider_;
  int running_ = 0;  // calls handed to the pool and not yet collected
  size_t done_ = 0;
  ApplySummary sum_;
  std::optional<Error> stop_;  // why the run stopped (an observer could not record a batch)

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Call, std::vector<Attempt>>> finished_;  // guarded by mu_
  boost::asio::thread_pool pool_;  // last: joined before the state it uses goes
};

}  // namespace

ApplySummary execute(const Plan& plan, ProviderMap& providers, ApplyObserver& observer,
                     const ExecOptions& opt, std::vector<ResourceOutcome>* outcomes) {
  return Scheduler(plan, providers, observer, opt).run(outcomes);
}

}  // namespace converge
