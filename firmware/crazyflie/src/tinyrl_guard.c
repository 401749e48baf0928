/*
 * TinyRL Crazyflie app: the hand-over state machine (see tinyrl_guard.h).
 */
#include "tinyrl_guard.h"

void tinyrl_guard_init(tinyrl_guard *g, uint32_t max_bad_steps)
{
    g->state = TINYRL_STATE_IDLE;
    g->reason = TINYRL_REASON_NONE;
    g->faults = 0;
    g->bad_steps = 0;
    g->max_bad_steps = max_bad_steps > 0 ? max_bad_steps : 1;
    g->held_last = false;
}

/* Leave the drone to whoever has it now: send nothing from this step on. */
static tinyrl_guard_output tinyrl_guard_leave(tinyrl_guard *g, tinyrl_reason reason, bool enable)
{
    tinyrl_guard_output out = {TINYRL_SEND_NOTHING, false, false, enable};
    g->state = TINYRL_STATE_IDLE;
    g->reason = reason;
    g->held_last = false;
    return out;
}

/* This step sends the hold; the first of a run fixes the hover point. */
static void tinyrl_guard_hold(tinyrl_guard *g, tinyrl_guard_output *out)
{
    out->send = TINYRL_SEND_HOLD;
    out->begin_hold = !g->held_last;
    g->held_last = true;
}

/* A FLYING step that cannot fly the policy: hold, and stop the policy after max_bad_steps in a row. */
static void tinyrl_guard_bad_step(tinyrl_guard *g, tinyrl_guard_output *out)
{
    tinyrl_guard_hold(g, out);
    if (++g->bad_steps >= g->max_bad_steps) {
        g->state = TINYRL_STATE_HOLDING;
        g->reason = TINYRL_REASON_BAD_STEPS;
        out->clear_enable = true;
    }
}

tinyrl_guard_output tinyrl_guard_step(tinyrl_guard *g, const tinyrl_guard_input *in)
{
    tinyrl_guard_output out = {TINYRL_SEND_NOTHING, false, false, false};
    g->faults = in->faults;
    if (g->state != TINYRL_STATE_IDLE) {
        /* Someone else has the drone, or nobody may fly it: stop sending at once, whatever tinyrl.enable says. */
        if (!in->can_fly) {
            return tinyrl_guard_leave(g, TINYRL_REASON_SUPERVISOR, in->enable);
        }
        if (in->high_level_active) {
            return tinyrl_guard_leave(g, TINYRL_REASON_HIGH_LEVEL, in->enable);
        }
        if (in->taken_over) {
            return tinyrl_guard_leave(g, TINYRL_REASON_TAKEN_OVER, in->enable);
        }
    }
    if (in->enable && g->state != TINYRL_STATE_FLYING) {
        /* Enabling is the user's hand-over to the app: it takes the commander from a client or a high-level
         * command (e.g. the hover after a take-off); only the supervisor and the checks can refuse it. */
        tinyrl_reason refused = TINYRL_REASON_NONE;
        if (!in->can_fly) {
            refused = TINYRL_REASON_SUPERVISOR;
        } else if (in->faults != 0) {
            refused = TINYRL_REASON_NOT_READY;
        }
        if (refused != TINYRL_REASON_NONE) {
            g->reason = refused;
            out.clear_enable = true;
        } else {
            g->state = TINYRL_STATE_FLYING;
            g->reason = TINYRL_REASON_NONE;
            g->bad_steps = 0;
            out.start = true;
        }
    } else if (!in->enable && g->state == TINYRL_STATE_FLYING) {
        g->state = TINYRL_STATE_HOLDING;
        g->reason = TINYRL_REASON_DISABLED;
    }
    switch (g->state) {
    case TINYRL_STATE_FLYING:
        if (in->faults != 0) {
            tinyrl_guard_bad_step(g, &out);
        } else {
            out.send = TINYRL_SEND_POLICY; /* held_last is settled by tinyrl_guard_policy_done */
        }
        break;
    case TINYRL_STATE_HOLDING:
        tinyrl_guard_hold(g, &out);
        break;
    default:
        g->held_last = false;
        break;
    }
    return out;
}

tinyrl_guard_output tinyrl_guard_policy_done(tinyrl_guard *g, int status)
{
    tinyrl_guard_output out = {TINYRL_SEND_POLICY, false, false, false};
    if (status != 0) {
        g->faults |= TINYRL_FAULT_POLICY;
        tinyrl_guard_bad_step(g, &out);
    } else {
        g->bad_steps = 0;
        g->held_last = false;
    }
    return out;
}
