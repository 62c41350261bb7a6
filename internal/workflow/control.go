package workflow

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/dbos-inc/dbos-transact-golang/dbos"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// Cancel stops a delivery that has not finished: it is marked cancelled
// first (so no later step can complete it), then its workflow is
// cancelled, which interrupts a running transfer.
func (e *Engine) Cancel(ctx context.Context, id string) (domain.Delivery, error) {
	d, err := e.steps.store.UpdateDelivery(ctx, id, func(d *domain.Delivery) error {
		d.Rate = 0
		return d.Transition(domain.StatusCancelled, e.steps.store.Now())
	})
	if err != nil {
		return d, err
	}
	if err := dbos.CancelWorkflow(e.client, WorkflowID(d.ID, d.Run)); err != nil {
		return d, fmt.Errorf("workflow: cancel %s: %w", id, err)
	}
	e.log.Info("delivery cancelled", "delivery_id", id, "partner", d.PartnerID)
	return d, nil
}

// Retry queues a failed or cancelled delivery again as a new run, with its
// own workflow, in one transaction.
func (e *Engine) Retry(ctx context.Context, id string) (domain.Delivery, error) {
	var d domain.Delivery
	err := e.steps.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		d, err = e.steps.store.UpdateDeliveryTx(ctx, tx, id, func(d *domain.Delivery) error {
			if err := d.Transition(domain.StatusQueued, e.steps.store.Now()); err != nil {
				return err
			}
			d.Run++
			d.LastError, d.Bytes, d.Rate, d.FinishedAt = "", 0, 0, nil
			return nil
		})
		if err != nil {
			return err
		}
		return e.Enqueue(ctx, tx, d)
	})
	if err == nil {
		e.log.Info("delivery retried", "delivery_id", id, "partner", d.PartnerID, "run", d.Run)
	}
	return d, err
}

// SetPriority moves a queued delivery in the queue (lower goes first).
func (e *Engine) SetPriority(ctx context.Context, id string, priority int) (domain.Delivery, error) {
	st := e.steps.store
	var d domain.Delivery
	err := st.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		d, err = st.UpdateDeliveryTx(ctx, tx, id, func(d *domain.Delivery) error {
			if d.Status != domain.StatusQueued {
				return domain.ErrNotQueued
			}
			d.Priority = priority
			return nil
		})
		if err != nil {
			return err
		}
		// DBOS has no call for this; its queue orders by this column.
		table := "workflow_status"
		if st.Dialect == store.Postgres {
			table = "dbos.workflow_status"
		}
		q := `UPDATE ` + table + ` SET priority = ? WHERE workflow_uuid = ? AND status = 'ENQUEUED'`
		if st.Dialect == store.Postgres {
			q = `UPDATE ` + table + ` SET priority = $1 WHERE workflow_uuid = $2 AND status = 'ENQUEUED'`
		}
		res, err := tx.ExecContext(ctx, q, priority, WorkflowID(d.ID, d.Run))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.ErrNotQueued
		}
		return nil
	})
	return d, err
}

// CompletedSteps lists the steps of a delivery's run that the engine has
// checkpointed, in order: a restart runs none of them again.
func (e *Engine) CompletedSteps(ctx context.Context, deliveryID string, run int) ([]string, error) {
	steps, err := dbos.GetWorkflowSteps(e.client, WorkflowID(deliveryID, run))
	if err != nil {
		return nil, fmt.Errorf("workflow: steps of delivery %s: %w", deliveryID, err)
	}
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.StepName
	}
	return names, nil
}
