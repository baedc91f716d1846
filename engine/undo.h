// Undo: the inverse of what a recorded run applied, and when it must be refused.
//
// A run's stored plan (Journal::plan_of) says what it meant to do and its change records
// (Journal::changes) what it did. applied_changes() keeps what was applied, in the order it was;
// inverse_plan() turns that into a Plan: deletes for creates, the old values for updates,
// re-creates for deletes. Whatever the run created in dependency order is deleted in reverse;
// the rest keeps its order. Deleting a type that holds data (accounts, mailboxes) is blocked
// unless `allow_destroy`; an undo is whole or nothing, so the caller refuses a plan with anything
// blocked. Before applying, the caller refuses when later runs changed the same resources
// (Journal::changed_after) or when moved_since() finds the target no longer as the run left it.
// Pure functions, except moved_since(), which observes through the providers.
#pragma once

#include <string>
#include <vector>

#include "engine/journal.h"
#include "engine/plan.h"

namespace converge {

// The resources of `stored` whose change is recorded as applied, in the order they were applied.
// Pointers into `stored`.
std::vector<const PlannedResource*> applied_changes(const Plan& stored,
                                                    const std::vector<ChangeRecord>& changes);

// The plan that reverses `applied` (from applied_changes(stored, ...)); its `before` states are
// empty until moved_since() fills them in.
Plan inverse_plan(const Plan& stored, const std::vector<const PlannedResource*>& applied,
                  bool allow_destroy);

// Observes every resource of `inverse` and sets its `before`; returns the resources (by id, or
// "id: cannot observe: ...") that are no longer as `applied` left them: a created or updated
// resource gone, a deleted one back, an updated attribute no longer at its new value.
std::vector<std::string> moved_since(const std::vector<const PlannedResource*>& applied,
                                     Plan& inverse, ProviderMap& providers);

}  // namespace converge
