package ota

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/dolbom/dolbom/devices"
)

// ImagePath is where the gateway serves an image to hubs.
func ImagePath(model, version string) string { return "/firmware/" + model + "/" + version }

// ImageHandler serves published images at GET /firmware/{model}/{version}
// with their length and SHA-256 (Content-Length, Digest headers), for hubs
// to download. It needs no sign-in: an image is useless without the vendor's
// signature check on the hub, and hubs have no console account.
func ImageHandler(s Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /firmware/{model}/{version}", func(w http.ResponseWriter, r *http.Request) {
		model, version := r.PathValue("model"), r.PathValue("version")
		if !devices.ValidVersion(model) || !devices.ValidVersion(version) {
			http.Error(w, "ota: model and version must be 1-40 characters of [A-Za-z0-9._:-]", http.StatusBadRequest)
			return
		}
		img, ok, err := s.FirmwareImage(r.Context(), model, version)
		if err != nil {
			http.Error(w, "ota: image unavailable", http.StatusServiceUnavailable)
			return
		}
		if !ok {
			http.Error(w, "ota: no image "+model+" "+version, http.StatusNotFound)
			return
		}
		data, err := s.FirmwareImageData(r.Context(), model, version)
		if errors.Is(err, devices.ErrNotFound) {
			http.Error(w, "ota: no image "+model+" "+version, http.StatusNotFound)
			return
		} else if err != nil {
			http.Error(w, "ota: image unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("X-Firmware-SHA256", img.SHA256)
		w.Header().Set("X-Firmware-Signature", img.Signature)
		w.Write(data)
	})
	return mux
}
