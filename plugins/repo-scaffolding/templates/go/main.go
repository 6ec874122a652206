// Command [[ appName ]] is a small HTTP service.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
)

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"service": "[[ appName ]]", "status": "ok"})
	})
	return mux
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "[[ port ]]"
	}
	log.Printf("[[ appName ]] listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, newMux()))
}
