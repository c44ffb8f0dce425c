package devices

// Metric is a quantity that sensors report in reading batches. Every metric
// has one unit, fixed by the protocol, so that no reading is ambiguous.
type Metric string

const (
	MetricSmoke       Metric = "smoke"       // optical obscuration, %/ft (UL 217/268 band 0.5-4.0)
	MetricTemperature Metric = "temperature" // °C
	MetricCO          Metric = "co"          // carbon monoxide, ppm
	MetricGas         Metric = "gas"         // combustible gas, % of the lower explosive limit
	MetricHumidity    Metric = "humidity"    // relative humidity, %; tells steam from smoke
	MetricMotion      Metric = "motion"      // PIR triggers counted since the previous reading
	MetricDoor        Metric = "door"        // 0 closed, 1 open
	MetricPresence    Metric = "presence"    // radar: 0 nobody, 1 somebody in range
	MetricBed         Metric = "bed"         // radar's bed zone: 0 the bed empty, 1 somebody in it
	MetricHeartRate   Metric = "heart_rate"  // beats per minute; quality required
	MetricRespiration Metric = "respiration" // breaths per minute; quality required
	MetricBattery     Metric = "battery"     // state of charge, %
	MetricMains       Metric = "mains"       // 1 on mains power, 0 on battery
)

// MetricSpec is what the protocol allows for one metric.
type MetricSpec struct {
	Unit string
	// Min and Max bound the physically possible values; anything outside is
	// a decoding error, not an emergency.
	Min, Max float64
	// Binary metrics take only 0 or 1.
	Binary bool
	// NeedsQuality metrics must carry a signal quality in [0, 1]: a heart rate
	// of 0 from a radar that lost the person is not asystole.
	NeedsQuality bool
}

// Metrics lists every metric the protocol knows, with its unit and range.
var Metrics = map[Metric]MetricSpec{
	MetricSmoke:       {Unit: "%/ft", Min: 0, Max: 100},
	MetricTemperature: {Unit: "°C", Min: -50, Max: 300},
	MetricCO:          {Unit: "ppm", Min: 0, Max: 10000},
	MetricGas:         {Unit: "%LEL", Min: 0, Max: 100},
	MetricHumidity:    {Unit: "%RH", Min: 0, Max: 100},
	MetricMotion:      {Unit: "count", Min: 0, Max: 10000},
	MetricDoor:        {Unit: "state", Min: 0, Max: 1, Binary: true},
	MetricPresence:    {Unit: "state", Min: 0, Max: 1, Binary: true},
	MetricBed:         {Unit: "state", Min: 0, Max: 1, Binary: true},
	MetricHeartRate:   {Unit: "bpm", Min: 0, Max: 300, NeedsQuality: true},
	MetricRespiration: {Unit: "breaths/min", Min: 0, Max: 100, NeedsQuality: true},
	MetricBattery:     {Unit: "%", Min: 0, Max: 100},
	MetricMains:       {Unit: "state", Min: 0, Max: 1, Binary: true},
}

// EventKind is something that happened at a given moment, reported once with
// a hub-assigned id.
type EventKind string

const (
	// Emergency class: sent at QoS 1 and acknowledged only once durable.
	EventSOS        EventKind = "sos"         // emergency button pressed (wall or pendant)
	EventFall       EventKind = "fall"        // a wearable's own fall detection fired
	EventSmokeAlarm EventKind = "smoke_alarm" // the smoke detector's own alarm sounded
	EventHeatAlarm  EventKind = "heat_alarm"  // the heat detector's own alarm sounded
	EventCOAlarm    EventKind = "co_alarm"    // the CO detector's own alarm sounded
	EventGasAlarm   EventKind = "gas_alarm"   // the gas detector's own alarm sounded
	EventCancel     EventKind = "cancel"      // the resident pressed cancel / "I am all right"

	// Activity class: what the resident does, for inactivity and wellbeing.
	EventMotion    EventKind = "motion"     // a PIR trigger worth reporting at once
	EventDoorOpen  EventKind = "door_open"  // entrance door opened
	EventDoorClose EventKind = "door_close" // entrance door closed
	EventCheckIn   EventKind = "check_in"   // the resident answered "are you all right?" with yes

	// Device class: faults of the equipment, never a resident's emergency.
	EventPowerLost     EventKind = "power_lost"     // hub switched to battery
	EventPowerRestored EventKind = "power_restored" // mains is back
	EventBatteryLow    EventKind = "battery_low"    // a sensor or the hub reports low battery
	EventTamper        EventKind = "tamper"         // a sensor was opened or removed from its mount
	EventSensorFault   EventKind = "sensor_fault"   // a sensor's self-test failed
	EventWearableOff   EventKind = "wearable_off"   // the wearable is not being worn
)

// EventClass groups event kinds by who must respond to them.
type EventClass string

const (
	ClassEmergency EventClass = "emergency"
	ClassActivity  EventClass = "activity"
	ClassDevice    EventClass = "device"
)

// EventKinds lists every event kind the protocol knows, with its class.
var EventKinds = map[EventKind]EventClass{
	EventSOS: ClassEmergency, EventFall: ClassEmergency, EventSmokeAlarm: ClassEmergency,
	EventHeatAlarm: ClassEmergency, EventCOAlarm: ClassEmergency, EventGasAlarm: ClassEmergency,
	EventCancel: ClassEmergency,

	EventMotion: ClassActivity, EventDoorOpen: ClassActivity, EventDoorClose: ClassActivity,
	EventCheckIn: ClassActivity,

	EventPowerLost: ClassDevice, EventPowerRestored: ClassDevice, EventBatteryLow: ClassDevice,
	EventTamper: ClassDevice, EventSensorFault: ClassDevice, EventWearableOff: ClassDevice,
}

// Class returns the kind's class, or "" for a kind the protocol does not know.
func (k EventKind) Class() EventClass { return EventKinds[k] }

// IsEmergency reports whether the kind must be sent at QoS 1 and made durable
// before it is acknowledged.
func (k EventKind) IsEmergency() bool { return EventKinds[k] == ClassEmergency }

// SensorKind is the kind of device installed in the home.
type SensorKind string

const (
	SensorSmoke     SensorKind = "smoke"      // smoke detector, often with temperature and humidity
	SensorHeat      SensorKind = "heat"       // heat detector
	SensorCO        SensorKind = "co"         // carbon monoxide detector
	SensorGas       SensorKind = "gas"        // combustible gas detector
	SensorMotion    SensorKind = "motion"     // PIR activity sensor
	SensorDoor      SensorKind = "door"       // door contact
	SensorRadar     SensorKind = "radar"      // presence, heart rate and breathing
	SensorWearable  SensorKind = "wearable"   // accelerometer, fall detection, SOS
	SensorSOSButton SensorKind = "sos_button" // wall or pendant emergency button
	SensorHub       SensorKind = "hub"        // the hub itself (battery, mains)
)

// SensorKinds lists the sensor kinds the registry accepts, with the metrics
// each is expected to report (the supervision check uses the reporting
// interval of the sensor, not this list).
var SensorKinds = map[SensorKind][]Metric{
	SensorSmoke:     {MetricSmoke, MetricTemperature, MetricHumidity, MetricBattery},
	SensorHeat:      {MetricTemperature, MetricBattery},
	SensorCO:        {MetricCO, MetricBattery},
	SensorGas:       {MetricGas},
	SensorMotion:    {MetricMotion, MetricBattery},
	SensorDoor:      {MetricDoor, MetricBattery},
	SensorRadar:     {MetricPresence, MetricBed, MetricHeartRate, MetricRespiration},
	SensorWearable:  {MetricHeartRate, MetricBattery},
	SensorSOSButton: {MetricBattery},
	SensorHub:       {MetricBattery, MetricMains},
}

// Location is the room a sensor is installed in.
type Location string

const (
	LocBedroom    Location = "bedroom"
	LocLivingRoom Location = "living_room"
	LocKitchen    Location = "kitchen"
	LocBathroom   Location = "bathroom"
	LocEntrance   Location = "entrance"
	LocHallway    Location = "hallway"
	LocUtility    Location = "utility"
	LocWorn       Location = "worn" // on the resident (wearable, pendant)
	LocOther      Location = "other"
)

// Locations is the set of valid locations.
var Locations = map[Location]bool{
	LocBedroom: true, LocLivingRoom: true, LocKitchen: true, LocBathroom: true, LocEntrance: true,
	LocHallway: true, LocUtility: true, LocWorn: true, LocOther: true,
}
