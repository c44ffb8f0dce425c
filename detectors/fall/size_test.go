package fall

import "unsafe"

func unsafeSizeof(t *Tracker) uintptr { return unsafe.Sizeof(*t) }
func unsafeSizeofFall() uintptr       { return unsafe.Sizeof(Fall{}) }
