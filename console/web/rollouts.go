package web

// The firmware rollouts pages (/admin/rollouts, 펌웨어 배포): the list of
// rollouts with their hubs counted, one rollout's stages and the hubs that
// failed or did not come back, and the buttons to halt and to roll back.
// National admins only, as the admin API's firmware and rollout routes: a
// rollout commands hubs of every region, its counts and its failed hubs
// are of every region, so a regional admin gets 403 on every one of these
// pages and forms, and the menu does not offer them.
//
// What is shown is read from the store (the engine saves its state every
// step, so the page is at most one step behind); halt and rollback go
// through the engine, which owns the running rollout.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/ota"
)

// RolloutReader reads rollouts as saved (the store's Rollouts).
type RolloutReader interface {
	// Rollouts returns the latest rollouts, newest first.
	Rollouts(ctx context.Context, limit int) ([]ota.Rollout, error)
	// Rollout returns one (devices.ErrNotFound when there is none).
	Rollout(ctx context.Context, id int64) (ota.Rollout, error)
	// RolloutCounts counts the rollouts' hubs per stage, by result.
	RolloutCounts(ctx context.Context, ids []int64) (map[int64][]ota.Counts, error)
	// RolloutFailures returns up to limit hubs that failed or did not
	// come back.
	RolloutFailures(ctx context.Context, id int64, limit int) ([]ota.Target, error)
}

// RolloutControl halts and rolls back the current rollout (the gateway's
// *ota.Engine).
type RolloutControl interface {
	Halt(ctx context.Context, reason string) (ota.Rollout, error)
	Rollback(ctx context.Context) (ota.Rollout, error)
}

const (
	// rolloutsListed bounds the list: each listed rollout's hubs are
	// counted by a grouped query over its targets (300,000 for a national
	// rollout), so the list is short; rollouts are a few a month.
	rolloutsListed = 20
	// failuresListed bounds the failed hubs shown on a rollout's page
	// (their number is in the counts): 3% of 300,000 is 9,000 rows.
	failuresListed = 500
)

func init() {
	for k, v := range rolloutText {
		webText[k] = v
	}
}

var rolloutText = map[string][2]string{
	"nav.rollouts":           {"펌웨어 배포", "Firmware rollouts"},
	"ro.title":               {"펌웨어 배포", "Firmware rollouts"},
	"ro.help":                {"허브 펌웨어를 단계별로 배포합니다. 먼저 일부(카나리)에 보내고, 실패하거나 돌아오지 않는 허브가 기준을 넘으면 스스로 중단합니다. 배포 시작과 이미지 등록은 dolbomctl로 합니다.", "Hub firmware goes out in stages: a canary first, and the rollout halts by itself when the hubs that fail or do not come back exceed its limit. Rollouts are started and images published with dolbomctl."},
	"ro.none":                {"배포 기록이 없습니다.", "No rollouts yet."},
	"ro.national_only":       {"펌웨어 배포는 전국 관리자만 보고 관리합니다 (배포는 모든 지역의 허브에 갑니다).", "Firmware rollouts are for national admins only (a rollout reaches hubs of every region)."},
	"ro.id":                  {"번호", "No."},
	"ro.model":               {"모델", "Model"},
	"ro.version":             {"버전", "Version"},
	"ro.state":               {"상태", "State"},
	"ro.stage":               {"단계", "Stage"},
	"ro.started":             {"시작", "Started"},
	"ro.updated":             {"최근 변경", "Last change"},
	"ro.reason":              {"중단 사유", "Halted because"},
	"ro.hubs":                {"대상", "Hubs"},
	"ro.sent":                {"보냄", "Sent"},
	"ro.acked":               {"설치 완료", "Installed"},
	"ro.installing":          {"설치 중", "Installing"},
	"ro.failed":              {"실패", "Failed"},
	"ro.lost":                {"미복귀", "Not back"},
	"ro.postponed":           {"연기", "Postponed"},
	"ro.pending":             {"대기", "Waiting"},
	"ro.unreachable":         {"연결 없음", "Unreachable"},
	"ro.total":               {"합계", "Total"},
	"ro.stages":              {"단계별 현황", "Stages"},
	"ro.stage.canary":        {"카나리", "canary"},
	"ro.plan":                {"계획", "Plan"},
	"ro.plan.text":           {"카나리 %s, 실패 기준 %s, 단계 제한 시간 %s", "canary %s, halt on failures over %s, stage timeout %s"},
	"ro.rollback_of":         {"되돌림 대상 배포", "Rolls back"},
	"ro.failures":            {"실패하거나 돌아오지 않은 허브", "Hubs that failed or did not come back"},
	"ro.failures.none":       {"실패한 허브가 없습니다.", "No hub failed."},
	"ro.failures.more":       {"처음 %d대만 표시합니다 (모두 %d대).", "The first %d are shown (%d in all)."},
	"ro.hub":                 {"허브", "Hub"},
	"ro.result":              {"결과", "Result"},
	"ro.detail":              {"사유", "Reason"},
	"ro.step":                {"마지막 보고 단계", "Last step reported"},
	"ro.previous":            {"이전 버전", "Previous version"},
	"ro.halt":                {"배포 중단", "Halt the rollout"},
	"ro.halt.reason":         {"중단 사유", "Reason"},
	"ro.halt.default":        {"운영자가 중단함", "halted by an operator"},
	"ro.rollback":            {"이전 버전으로 되돌리기", "Roll back to the previous version"},
	"ro.rollback.help":       {"이 배포를 받은 허브에 이전 버전을 다시 보냅니다. 진행 중이면 먼저 중단합니다.", "Sends the hubs this rollout reached the version they ran before; a running rollout is halted first."},
	"ro.halted":              {"배포를 중단했습니다.", "The rollout is halted."},
	"ro.rolledback":          {"되돌림 배포를 시작했습니다.", "The rollback has started."},
	"ro.not_current":         {"진행 중인 최신 배포만 중단하거나 되돌릴 수 있습니다.", "Only the newest rollout can be halted or rolled back."},
	"ro.back":                {"목록으로", "Back to the list"},
	"ro.state.running":       {"진행 중", "running"},
	"ro.state.halted":        {"중단됨", "halted"},
	"ro.state.done":          {"완료", "done"},
	"ro.state.rolled_back":   {"되돌림", "rolled back"},
	"ro.result.failed":       {"설치 실패", "install failed"},
	"ro.result.lost":         {"돌아오지 않음", "did not come back"},
	"ro.detail.not_back":     {"제한 시간 안에 새 버전으로 돌아오지 않음", "not back on the new version within the stage timeout"},
	"ro.detail.unsupported":  {"허브가 명령을 지원하지 않음", "the hub does not support the command"},
	"ro.stage.done":          {"모든 단계 완료", "all stages done"},
	"ro.stage.of":            {"%d / %d단계", "stage %d of %d"},
	"ro.engine_off":          {"이 게이트웨이에서는 배포를 조작할 수 없습니다.", "This gateway cannot act on rollouts."},
	"ro.problem.not_running": {"진행 중인 배포가 없습니다.", "No rollout is running."},
}

func (w *web) rolloutRoutes() {
	m := w.mux
	m.HandleFunc("GET /admin/rollouts", w.signedIn(w.nationalRollouts(w.rolloutsPage), console.RoleAdmin))
	m.HandleFunc("GET /admin/rollouts/{id}", w.signedIn(w.nationalRollouts(w.rolloutPage), console.RoleAdmin))
	m.HandleFunc("POST /admin/rollouts/{id}/halt", w.signedIn(w.nationalRollouts(w.haltRolloutForm), console.RoleAdmin))
	m.HandleFunc("POST /admin/rollouts/{id}/rollback", w.signedIn(w.nationalRollouts(w.rollbackRolloutForm), console.RoleAdmin))
}

// nationalRollouts lets national admins through; a regional admin is told
// why not (403), as the admin API answers a regional token.
func (w *web) nationalRollouts(h pageHandler) pageHandler {
	return func(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
		if w.deps.Rollouts == nil {
			w.errorPage(rw, r, rc, http.StatusNotFound)
			return
		}
		if !rc.account.National() {
			w.render(rw, r, "error", http.StatusForbidden, rc, map[string]any{"Status": http.StatusForbidden, "Message": "ro.national_only"})
			return
		}
		h(rw, r, rc)
	}
}

// rolloutRow is a rollout with its hubs counted, per stage and in all.
type rolloutRow struct {
	ota.Rollout
	PerStage []ota.Counts
	All      ota.Counts
	// Current: the newest rollout, the only one the engine halts or rolls
	// back.
	Current bool
}

// Commanded is every hub the rollout sent the command to.
func (r rolloutRow) Commanded() int { return r.All.Sent + r.All.Installed + r.All.Failed + r.All.Lost }

// CanHalt and CanRollback say which buttons the engine would accept.
func (r rolloutRow) CanHalt() bool { return r.Current && r.State == ota.Running }

func (r rolloutRow) CanRollback() bool {
	return r.Current && r.RollbackOf == 0 && r.State != ota.RolledBack && r.Commanded() > 0
}

func newRolloutRow(r ota.Rollout, per []ota.Counts, current bool) rolloutRow {
	row := rolloutRow{Rollout: r, Current: current, PerStage: make([]ota.Counts, len(r.Stages))}
	copy(row.PerStage, per)
	for _, c := range per {
		row.All = row.All.Plus(c)
	}
	return row
}

func (w *web) rolloutsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	list, err := w.deps.Rollouts.Rollouts(ctx, rolloutsListed)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	ids := make([]int64, len(list))
	for i, ro := range list {
		ids[i] = ro.ID
	}
	counts, err := w.deps.Rollouts.RolloutCounts(ctx, ids)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	rows := make([]rolloutRow, len(list))
	for i, ro := range list {
		rows[i] = newRolloutRow(ro, counts[ro.ID], i == 0)
	}
	w.render(rw, r, "rollouts", http.StatusOK, rc, map[string]any{"Rows": rows})
}

func (w *web) rolloutPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	done := r.URL.Query().Get("done")
	if done != "halted" && done != "rolledback" {
		done = ""
	}
	w.renderRollout(rw, r, rc, http.StatusOK, done, "")
}

// renderRollout shows one rollout: its plan, stages and failed hubs, and
// the buttons the account and the rollout's state allow.
func (w *web) renderRollout(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, done, problem string) {
	ctx := r.Context()
	id, ok := w.rolloutID(rw, r, rc)
	if !ok {
		return
	}
	ro, err := w.deps.Rollouts.Rollout(ctx, id)
	if errors.Is(err, devices.ErrNotFound) {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	newest, err := w.deps.Rollouts.Rollouts(ctx, 1)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	counts, err := w.deps.Rollouts.RolloutCounts(ctx, []int64{id})
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	failures, err := w.deps.Rollouts.RolloutFailures(ctx, id, failuresListed)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	row := newRolloutRow(ro, counts[id], len(newest) > 0 && newest[0].ID == id)
	w.render(rw, r, "rollout", status, rc, map[string]any{"R": row, "Failures": failures, "FailuresAll": row.All.Failed + row.All.Lost,
		"Done": done, "Problem": problem, "CanAct": w.deps.RolloutControl != nil})
}

// rolloutID reads the {id} of the path; false when it answered (404).
func (w *web) rolloutID(rw http.ResponseWriter, r *http.Request, rc *reqCtx) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return 0, false
	}
	return id, true
}

// rolloutAction checks that the form names the engine's current rollout
// before acting on it: the engine halts and rolls back the newest
// rollout, and a form left open on an older one must not act on a newer
// one the admin has not seen.
func (w *web) rolloutAction(rw http.ResponseWriter, r *http.Request, rc *reqCtx, act func(ctx context.Context) (ota.Rollout, error), done, audit string) {
	ctx := r.Context()
	id, ok := w.rolloutID(rw, r, rc)
	if !ok {
		return
	}
	if w.deps.RolloutControl == nil {
		w.renderRollout(rw, r, rc, http.StatusNotFound, "", translate(rc.lang, "ro.engine_off"))
		return
	}
	newest, err := w.deps.Rollouts.Rollouts(ctx, 1)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	if len(newest) == 0 || newest[0].ID != id {
		w.renderRollout(rw, r, rc, http.StatusConflict, "", translate(rc.lang, "ro.not_current"))
		return
	}
	ro, err := act(ctx)
	switch {
	case errors.Is(err, ota.ErrNoRollout):
		w.renderRollout(rw, r, rc, http.StatusConflict, "", translate(rc.lang, "ro.problem.not_running"))
		return
	case errors.Is(err, devices.ErrConflict), errors.Is(err, devices.ErrNotFound), errors.Is(err, devices.ErrInvalid):
		// The engine's words say which rollout or image and what to do
		// (nothing to roll back; publish the previous image first).
		w.renderRollout(rw, r, rc, http.StatusConflict, "", err.Error())
		return
	case err != nil:
		w.fail(rw, r, rc, err)
		return
	}
	_ = w.audit(ctx, rc, audit, "", "", strconv.FormatInt(id, 10)+" "+ro.Model+" "+ro.Version)
	to := id
	if done == "rolledback" {
		to = ro.ID // the rollback is a rollout of its own: show it
	}
	http.Redirect(rw, r, "/admin/rollouts/"+strconv.FormatInt(to, 10)+"?done="+done, http.StatusSeeOther)
}

func (w *web) haltRolloutForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > 500 {
		w.renderRollout(rw, r, rc, http.StatusBadRequest, "", "reason: at most 500 bytes")
		return
	}
	if reason == "" {
		reason = translate(rc.lang, "ro.halt.default")
	}
	w.rolloutAction(rw, r, rc, func(ctx context.Context) (ota.Rollout, error) {
		return w.deps.RolloutControl.Halt(ctx, reason+" ("+rc.account.ID+")")
	}, "halted", "rollout.halt")
}

func (w *web) rollbackRolloutForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.rolloutAction(rw, r, rc, func(ctx context.Context) (ota.Rollout, error) {
		return w.deps.RolloutControl.Rollback(ctx)
	}, "rolledback", "rollout.rollback")
}

// RolloutPlan is a rollout's plan in words.
func (p *pageData) RolloutPlan(pl ota.Plan) string {
	pct := func(f float64) string { return strconv.FormatFloat(f*100, 'g', 4, 64) + "%" }
	return fmt.Sprintf(translate(p.Lang, "ro.plan.text"), pct(pl.Canary), pct(pl.HaltOn), pl.StageTimeout)
}

// FailuresShown says that the list of failed hubs is cut, when it is.
func (p *pageData) FailuresShown(shown, all int) string {
	if shown >= all {
		return ""
	}
	return fmt.Sprintf(translate(p.Lang, "ro.failures.more"), shown, all)
}

// RolloutState is a rollout's state in words.
func (p *pageData) RolloutState(s ota.State) string {
	return translateOr(p.Lang, "ro.state."+string(s), string(s))
}

// FailureDetail is why a hub failed, in words where the console has them,
// else the hub's own reason code.
func (p *pageData) FailureDetail(t ota.Target) string {
	if t.Result == ota.Lost {
		return translate(p.Lang, "ro.detail.not_back")
	}
	return translateOr(p.Lang, "ro.detail."+t.Detail, t.Detail)
}

// StageName is "1 / 4단계" with the canary named.
func (p *pageData) StageName(stage, stages int) string {
	if stage >= stages {
		return translate(p.Lang, "ro.stage.done")
	}
	s := fmt.Sprintf(translate(p.Lang, "ro.stage.of"), stage+1, stages)
	if stage == 0 {
		s += " (" + translate(p.Lang, "ro.stage.canary") + ")"
	}
	return s
}
