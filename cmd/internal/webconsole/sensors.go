package webconsole

import (
	"context"

	"github.com/dolbom/dolbom/devices"
)

// GetSensor lets the incident page say in which room the alarm is
// (console.SensorReader).
func (a adapter) GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
	return a.st.GetSensor(ctx, hub, id)
}
