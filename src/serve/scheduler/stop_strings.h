// Stop strings over streamed text: text that might be the start of a stop string is held
// back until the next piece shows whether it is; a full match ends the output just before it
// (OpenAI and llama.cpp leave the stop string out).
#pragma once

#include <string>
#include <vector>

namespace deepcpu::serve {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Adds generated text; returns what is now safe to emit. Sets stopped() on a match.
  std::string push(const std::string& text);
  // Whatever is held back (at the end of generation without a match).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace deepcpu::serve
