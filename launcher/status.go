package launcher

import (
	"encoding/json"
	"os"
	"slices"
)

// Status is what ReadStatus finds in a home: the launcher's view, read
// from files only, so it works whether or not a launcher runs.
type Status struct {
	Home string `json:"home"`
	// Launcher is the launcher process, if one runs.
	LauncherPID     int  `json:"launcher_pid,omitempty"`
	LauncherRunning bool `json:"launcher_running"`
	// NodePID and NodeRelease are the node the launcher started, if it
	// still runs.
	NodePID     int    `json:"node_pid,omitempty"`
	NodeRelease string `json:"node_release,omitempty"`
	NodeRunning bool   `json:"node_running"`
	// Current and Previous are releases/current and releases/previous.
	Current  *ReleaseInfo  `json:"current,omitempty"`
	Previous *ReleaseInfo  `json:"previous,omitempty"`
	Releases []ReleaseInfo `json:"releases"`
	// Checkpoints are the release IDs with a data checkpoint.
	Checkpoints []string `json:"checkpoints"`
	// Operation is the operation in progress (or interrupted), if any.
	Operation *State `json:"operation,omitempty"`
	// Pending are the requests not yet answered.
	Pending []Request `json:"pending"`
	// Results are the newest results, acknowledged or not, oldest first.
	Results []Result `json:"results"`
}

// statusResults is how many results ReadStatus returns.
const statusResults = 10

// ReadStatus reads a home's launcher state.
func ReadStatus(home string) (*Status, error) {
	lay, err := checkHome(home)
	if err != nil {
		return nil, err
	}
	s := &Status{Home: lay.Home, Releases: []ReleaseInfo{}, Checkpoints: []string{}, Pending: []Request{}, Results: []Result{}}
	var pid struct {
		PID int `json:"pid"`
	}
	if b, err := readBounded(lay.launcherPID(), 4096); err == nil && json.Unmarshal(b, &pid) == nil {
		s.LauncherPID = pid.PID
		s.LauncherRunning = processAlive(pid.PID, "launcher")
	}
	var np nodePID
	if b, err := readBounded(lay.nodePID(), 4096); err == nil && json.Unmarshal(b, &np) == nil {
		s.NodePID, s.NodeRelease = np.PID, np.Release
		s.NodeRunning = processAlive(np.PID, lay.Home)
	}
	for _, link := range []struct {
		path string
		dst  **ReleaseInfo
	}{{lay.currentLink(), &s.Current}, {lay.previousLink(), &s.Previous}} {
		id, err := readLink(link.path)
		if err != nil {
			return nil, err
		}
		if id != "" {
			ri, err := readRelease(lay, id)
			if err != nil {
				return nil, err
			}
			*link.dst = &ri
		}
	}
	if s.Releases, err = listReleases(lay); err != nil {
		return nil, err
	}
	if s.Releases == nil {
		s.Releases = []ReleaseInfo{}
	}
	if ents, err := os.ReadDir(lay.checkpoints()); err == nil {
		for _, e := range ents {
			if e.IsDir() && CheckReleaseID(e.Name()) == nil {
				s.Checkpoints = append(s.Checkpoints, e.Name())
			}
		}
	}
	st, err := loadState(lay)
	if err != nil {
		return nil, err
	}
	if st.Op != "" {
		// An operation whose result is written is only clearing up.
		if done, err := hasResult(lay, st.Request.Seq); err != nil {
			return nil, err
		} else if !done {
			s.Operation = &st
		}
	}
	if p, err := pending(lay); err != nil {
		return nil, err
	} else if p != nil {
		s.Pending = p
	}
	res, err := readResults(lay, true)
	if err != nil {
		return nil, err
	}
	if len(res) > statusResults {
		res = res[len(res)-statusResults:]
	}
	s.Results = append(s.Results, res...)
	slices.SortFunc(s.Results, func(a, b Result) int { return cmpU64(a.Seq, b.Seq) })
	return s, nil
}

// Current returns the release releases/current points at in home.
func Current(home string) (ReleaseInfo, error) {
	lay, err := checkHome(home)
	if err != nil {
		return ReleaseInfo{}, err
	}
	id, err := readLink(lay.currentLink())
	if err != nil {
		return ReleaseInfo{}, err
	}
	if id == "" {
		return ReleaseInfo{}, ErrUnknownRelease
	}
	return readRelease(lay, id)
}
