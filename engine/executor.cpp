#include "engine/executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
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

// A deferred check: observe it again now that its dependencies are applied, and judge it.
ResourceOutcome run_check(const PlannedResource& r, Provider& p) {
  ResourceOutcome out;
  out.attempts = 1;
  ObserveRequest req;
  req.type = r.type;
  req.resources.push_back(r.view());
  ObserveResponse resp;
  try {
    resp = p.observe(req);
  } catch (const std::exception& e) {
    resp.results.clear();
    out.outcome = Outcome::kFailed;
    out.error = Error::Internal(std::string("provider threw: ") + e.what()).on(r.id);
    return out;
  }
  if (resp.results.size() != 1 || resp.results[0].error) {
    out.outcome = Outcome::kFailed;
    out.error = resp.results.size() == 1 ? Error(*resp.results[0].error).on(r.id)
                                         : Error::Internal("provider gave no observation").on(r.id);
    return out;
  }
  const Observation& o = resp.results[0];
  bool restart = false;
  std::string why = o.exists ? check_failure(*r.type, r.desired, o.attrs, &restart) : "not found";
  if (why.empty()) {
    out.outcome = Outcome::kNoop;
    return out;
  }
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

// One provider call for one change or a batch of them, with exception capture and retry of
// transient errors. Each change is judged on its own: only the ones that failed transiently are
// sent again, after a backoff.
std::vector<ResourceOutcome> run_changes(const Plan& plan, const std::vector<size_t>& idx,
                                         Provider& p, const ExecOptions& opt) {
  std::vector<ResourceOutcome> out(idx.size());
  if (idx.size() == 1 && plan.resources[idx[0]].deferred) {
    out[0] = run_check(plan.resources[idx[0]], p);
    return out;
  }
  std::vector<size_t> todo;  // positions in idx still to apply
  std::vector<ApplyRequest> reqs;
  for (size_t k = 0; k < idx.size(); ++k) {
    auto req = make_request(plan.resources[idx[k]], opt);
    if (!req.ok()) {
      out[k].outcome = Outcome::kFailed;
      out[k].error = req.error();
      continue;
    }
    todo.push_back(k);
    reqs.push_back(std::move(*req));
  }
  auto delay = opt.backoff;
  for (int attempt = 1; !todo.empty(); ++attempt) {
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
    std::vector<size_t> again;
    std::vector<ApplyRequest> again_reqs;
    for (size_t k = 0; k < todo.size(); ++k) {
      ResourceOutcome& o = out[todo[k]];
      const std::string& id = plan.resources[idx[todo[k]]].id;
      o.attempts = attempt;
      if (st[k].ok()) {
        o.outcome = Outcome::kApplied;
        o.error.reset();
        continue;
      }
      o.outcome = Outcome::kFailed;
      o.error = Error(st[k].error()).on(id);
      if (st[k].error().kind != ErrorKind::kTransient || attempt >= opt.attempts) continue;
      spdlog::warn("{}: transient error, retrying in {} ms: {}", id, delay.count(),
                   st[k].error().message);
      again.push_back(todo[k]);
      again_reqs.push_back(std::move(reqs[k]));
    }
    todo = std::move(again);
    reqs = std::move(again_reqs);
    if (todo.empty()) break;
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
  return out;
}

}  // namespace

ApplySummary execute(const Plan& plan, ProviderMap& providers, ApplyObserver& observer,
                     const ExecOptions& opt, std::vector<ResourceOutcome>* outcomes_out) {
  const size_t n = plan.resources.size();
  std::unordered_map<std::string, size_t> pos;
  pos.reserve(n);
  for (size_t i = 0; i < n; ++i) pos[plan.resources[i].id] = i;
  std::vector<std::vector<size_t>> dependents(n);
  std::vector<int> waiting(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (const auto& d : plan.resources[i].depends_on)
      if (auto it = pos.find(d); it != pos.end()) {
        dependents[it->second].push_back(i);
        ++waiting[i];
      }

  std::vector<ResourceOutcome> outcomes(n);
  std::vector<std::string> failed_dep(n);  // first failed/skipped dependency, if any
  // What others wait for goes first (stable: plan order otherwise), so that their dependents
  // become ready early and go out beside the rest instead of after it.
  std::vector<size_t> initial;
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0) initial.push_back(i);
  std::stable_sort(initial.begin(), initial.end(),
                   [&](size_t a, size_t b) { return dependents[a].size() > dependents[b].size(); });
  std::deque<size_t> ready(initial.begin(), initial.end());

  std::mutex mu;
  std::condition_variable cv;
  // Answers of finished calls: the changes of a call and their outcomes (guarded by mu).
  std::deque<std::pair<std::vector<size_t>, std::vector<ResourceOutcome>>> finished;
  std::map<std::string, int> running_per_provider;
  int running = 0;
  size_t done = 0;
  ApplySummary sum;
  boost::asio::thread_pool pool(static_cast<size_t>(std::max(1, opt.parallelism)));

  auto complete = [&](size_t i, ResourceOutcome o) {
    switch (o.outcome) {
      case Outcome::kApplied:
        ++sum.applied;
        break;
      case Outcome::kFailed:
        ++sum.failed;
        break;
      case Outcome::kSkipped:
        ++sum.skipped;
        break;
      case Outcome::kBlocked:
        ++sum.blocked;
        break;
      case Outcome::kNoop:
        ++sum.noop;
        break;
    }
    bool bad = o.outcome == Outcome::kFailed || o.outcome == Outcome::kSkipped;
    observer.finished(plan.resources[i], o);
    outcomes[i] = std::move(o);
    ++done;
    for (size_t d : dependents[i]) {
      if (bad && failed_dep[d].empty()) failed_dep[d] = plan.resources[i].id;
      if (--waiting[d] == 0) ready.push_back(d);
    }
  };

  auto cap = [&](const std::string& prov) {
    auto it = providers.find(prov);
    return it == providers.end() ? 1 : std::max(1, it->second->max_parallel());
  };
  // Changes that are ready but wait for room, per provider: handing work out costs
  // O(providers) per wake-up, however many changes wait.
  std::map<std::string, std::deque<size_t>> waiting_room;
  std::map<std::string, size_t> calls_to;  // calls started, per provider

  while (done < n) {
    // Settle everything ready that needs no provider call; queue the changes.
    observer.batch_begin();
    while (!ready.empty()) {
      size_t i = ready.front();
      ready.pop_front();
      const PlannedResource& r = plan.resources[i];
      if (!failed_dep[i].empty() && needs_work(r)) {
        ResourceOutcome o;
        o.outcome = Outcome::kSkipped;
        o.because = failed_dep[i];
        complete(i, std::move(o));
      } else if (!needs_work(r)) {
        ResourceOutcome o;
        o.outcome = r.action == Action::kBlocked ? Outcome::kBlocked : Outcome::kNoop;
        complete(i, std::move(o));
      } else if (!providers.count(r.provider)) {
        ResourceOutcome o;
        o.outcome = Outcome::kFailed;
        o.error = Error::Internal("no provider '" + r.provider + "'").on(r.id);
        complete(i, std::move(o));
      } else {
        waiting_room[r.provider].push_back(i);
      }
    }
    observer.batch_end();
    // Start what fits under the caps: one call per change, or per batch of changes for a
    // provider that takes batches (the ready changes spread over the calls that fit). A call's
    // intents are recorded (batch_end) before it starts, call by call, so the first call does
    // not wait for the intents of all the others.
    for (auto& [prov, q] : waiting_room) {
      int room = cap(prov) - running_per_provider[prov];
      Provider* p = providers.at(prov).get();
      size_t max_batch = std::max<size_t>(1, p->max_batch());
      while (!q.empty() && room > 0 && running < opt.parallelism) {
        size_t slots = static_cast<size_t>(std::min(room, opt.parallelism - running));
        size_t take = std::min(max_batch, (q.size() + slots - 1) / slots);
        // The first call to a provider is an eighth of that: the target starts on it while the
        // larger ones are journaled and prepared.
        if (calls_to[prov]++ == 0) take = std::max<size_t>(1, take / 8);
        std::vector<size_t> call;
        observer.batch_begin();
        while (!q.empty() && call.size() < take) {
          size_t i = q.front();
          // A deferred check is an observation, not a change: it goes alone.
          if (plan.resources[i].deferred && !call.empty()) break;
          q.pop_front();
          observer.started(plan.resources[i]);
          call.push_back(i);
          if (plan.resources[i].deferred) break;
        }
        observer.batch_end();
        --room;
        ++running;
        ++running_per_provider[prov];
        boost::asio::post(pool, [&, p, call = std::move(call)] {
          std::vector<ResourceOutcome> o = run_changes(plan, call, *p, opt);
          std::lock_guard<std::mutex> lk(mu);
          finished.emplace_back(call, std::move(o));
          cv.notify_one();
        });
      }
    }
    if (done >= n) break;
    if (running == 0) {
      if (!ready.empty()) continue;
      break;  // nothing runs and nothing is ready: only reachable on a cycle
    }
    std::deque<std::pair<std::vector<size_t>, std::vector<ResourceOutcome>>> results;
    {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait(lk, [&] { return !finished.empty(); });
      results.swap(finished);
    }
    observer.batch_begin();
    for (auto& [call, outs] : results) {
      --running;
      --running_per_provider[plan.resources[call.front()].provider];
      for (size_t k = 0; k < call.size(); ++k) complete(call[k], std::move(outs[k]));
    }
    observer.batch_end();
  }
  pool.join();
  if (outcomes_out) *outcomes_out = std::move(outcomes);
  return sum;
}

}  // namespace converge
