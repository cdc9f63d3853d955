//! Chinese names for residential compounds (小区) and schools.
//!
//! Names are unique within a district (schools: within a district and stage; private schools
//! within a copy of the city); the word lists are generic place and brand words, so a name may
//! coincide with a real compound or school, but nothing here describes a real one.

use std::collections::HashSet;

use crate::Stage;
use crate::rng::Rand;

/// First halves of compound names that fit anywhere: developers' brands and generic words
/// (a district's own place words are added, see [`block_name`]).
const BLOCK_PREFIX: &[&str] = &[
    "万科",
    "保利",
    "绿地",
    "融创",
    "碧桂园",
    "华润",
    "中海",
    "招商",
    "金科",
    "龙湖",
    "新城",
    "雅居乐",
    "旭辉",
    "世茂",
    "锦绣",
    "阳光",
    "翠竹",
    "春江",
    "东方",
    "金色",
    "湖滨",
    "山水",
    "紫金",
    "香樟",
    "桃源",
    "金城",
    "丽都",
    "天鹅湖",
    "缤纷",
    "盛世",
    "尚城",
    "御湖",
    "观山",
    "望湖",
    "映月",
    "风雅",
    "和园",
    "嘉禾",
    "兰亭",
    "枫林",
    "星河",
    "银杏",
    "海棠",
    "桂花",
];

/// Second halves of compound names; the first [`MODERN_SUFFIXES`] suit new developments.
const BLOCK_SUFFIX: &[&str] = &[
    "花园", "家园", "苑", "名邸", "公馆", "城", "雅苑", "华庭", "府", "湾", "佳苑", "壹号", "丽景", "嘉园", "名都",
    "水岸", "天地", "山庄", "首府", "悦府", "新村", "小区", "里", "雅居", "新苑", "东苑", "西苑", "南苑", "北苑",
    "一村", "二村", "三村",
];

/// How many of [`BLOCK_SUFFIX`] (from the start) suit a new development.
const MODERN_SUFFIXES: usize = 20;

/// Generic village words for rural blocks (`…村`, `…社区`), besides the district's places.
const VILLAGE: &[&str] = &[
    "新庄", "南庄", "北庄", "东湖", "西塘", "红星", "前进", "永丰", "长寿", "桃园", "双桥", "塘头", "大坝", "石桥",
    "金桥", "杨家", "王巷", "陈墅", "河头", "东村", "西村", "南湾",
];

/// Generic words for school names, besides the district's places.
const SCHOOL_WORD: &[&str] = &[
    "阳光", "育英", "春晖", "前进", "和平", "朝阳", "明珠", "东风", "启明", "立人", "博雅", "格致", "敬业", "崇文",
    "尚德", "求真", "致远", "鸿志", "育才", "新星", "春蕾", "晨光", "锦园", "新苑", "青藤", "东升", "星河", "翠园",
    "碧水", "花园", "金桥", "芙蓉", "紫藤",
];

/// A word for a name: one of the district's places half of the time, else a generic one.
fn word<'a>(rng: &mut Rand, places: &[&'a str], generic: &[&'a str]) -> &'a str {
    if !places.is_empty() && rng.chance(0.5) {
        pick(rng, places)
    } else {
        pick(rng, generic)
    }
}

const PHASE: &[&str] = &["一期", "二期", "三期", "四期", "五期"];

/// `n` in Chinese numerals (1..=9999), as in 第三中学, 第十二小学.
pub(crate) fn chinese_number(n: u32) -> String {
    const DIGIT: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    const UNIT: [&str; 4] = ["", "十", "百", "千"];
    if n == 0 {
        return DIGIT[0].to_string();
    }
    let digits: Vec<u32> = n.to_string().bytes().map(|b| u32::from(b - b'0')).collect();
    let len = digits.len();
    let mut out = String::new();
    let mut pending_zero = false;
    for (i, &d) in digits.iter().enumerate() {
        let unit = len - 1 - i;
        if d == 0 {
            pending_zero = !out.is_empty();
            continue;
        }
        if pending_zero {
            out.push_str(DIGIT[0]);
            pending_zero = false;
        }
        // 十二, not 一十二, at the start of a two-digit number.
        if !(d == 1 && unit == 1 && len == 2) {
            out.push_str(DIGIT[d as usize]);
        }
        out.push_str(UNIT[unit.min(3)]);
    }
    out
}

fn pick<'a>(rng: &mut Rand, words: &[&'a str]) -> &'a str {
    words[rng.below(words.len() as u64) as usize]
}

/// Inserts `name` if unused; otherwise tries `name` + a numbered suffix.
fn unique(used: &mut HashSet<String>, name: String, suffix: impl Fn(u32) -> String) -> String {
    if used.insert(name.clone()) {
        return name;
    }
    let mut n = 2u32;
    loop {
        let candidate = format!("{name}{}", suffix(n));
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// A compound name such as `清扬新村`, `万科城二期` or, for a rural block, `石塘村`.
pub(crate) fn block_name(
    rng: &mut Rand,
    used: &mut HashSet<String>,
    places: &[&str],
    village: bool,
    new_block: bool,
) -> String {
    for _ in 0..8 {
        let name = if village {
            let tail = if rng.chance(0.7) {
                "村"
            } else if rng.chance(0.5) {
                "新村"
            } else {
                "社区"
            };
            format!("{}{tail}", word(rng, places, VILLAGE))
        } else {
            // New developments get modern names (no 新村, 一村, 小区).
            let suffixes = if new_block {
                &BLOCK_SUFFIX[..MODERN_SUFFIXES]
            } else {
                BLOCK_SUFFIX
            };
            let mut s = format!("{}{}", word(rng, places, BLOCK_PREFIX), pick(rng, suffixes));
            if (new_block || rng.chance(0.2)) && !s.ends_with('村') {
                let lo = usize::from(new_block);
                s.push_str(PHASE[lo + rng.below((PHASE.len() - lo) as u64) as usize]);
            }
            s
        };
        if used.insert(name.clone()) {
            return name;
        }
    }
    let base = format!("{}{}", pick(rng, BLOCK_PREFIX), pick(rng, BLOCK_SUFFIX));
    unique(used, base, |n| format!("{}期", chinese_number(n + 4)))
}

/// A public school's name: `梁溪区实验小学`, `滨湖区第三中学`, `新吴区阳光幼儿园`.
/// `prestige` is `Some(rank)` for the district's popular schools (rank 0 = most popular),
/// which get the prestigious names (实验, 第一实验, …); `count` is how many public schools of
/// the stage the district has (it bounds ordinal names such as 第三中学).
pub(crate) fn public_school_name(
    rng: &mut Rand,
    used: &mut HashSet<String>,
    district: &str,
    places: &[&str],
    stage: Stage,
    prestige: Option<usize>,
    count: usize,
) -> String {
    let (titles, kind): (&[&str], &str) = match stage {
        Stage::Primary => (&["实验小学", "第一实验小学", "师范附属小学", "中心小学"], "小学"),
        Stage::Junior => (&["实验中学", "第一中学", "师范附属中学", "外国语学校"], "中学"),
        Stage::Kindergarten => (&["实验幼儿园", "中心幼儿园", "机关幼儿园", "第一幼儿园"], "幼儿园"),
    };
    if let Some(p) = prestige.and_then(|rank| titles.get(rank)) {
        let name = format!("{district}{p}");
        if used.insert(name.clone()) {
            return name;
        }
    }
    for _ in 0..8 {
        let name = if stage == Stage::Junior && rng.chance(0.5) {
            let n = rng.int(2, count.max(3) as u64 + 2) as u32;
            format!("{district}第{}中学", chinese_number(n))
        } else {
            format!("{district}{}{kind}", word(rng, places, SCHOOL_WORD))
        };
        if used.insert(name.clone()) {
            return name;
        }
    }
    let base = format!("{district}{}", word(rng, places, SCHOOL_WORD));
    let branch = if stage == Stage::Kindergarten {
        "分园"
    } else {
        "分校"
    };
    unique(used, format!("{base}{kind}"), |n| {
        format!("第{}{branch}", chinese_number(n))
    })
}

/// A private school's name: `无锡外国语学校 (民办)`, `春晖双语学校 (民办)`.
pub(crate) fn private_school_name(
    rng: &mut Rand,
    used: &mut HashSet<String>,
    city: &str,
    places: &[&str],
    stage: Stage,
) -> String {
    let kinds: &[&str] = match stage {
        Stage::Primary => &["外国语学校", "双语学校", "实验学校", "国际学校", "小学"],
        Stage::Junior => &["外国语学校", "双语学校", "实验学校", "中学", "初级中学"],
        Stage::Kindergarten => &["双语幼儿园", "蒙特梭利幼儿园", "艺术幼儿园", "幼儿园"],
    };
    let first = format!("{city}{} (民办)", kinds[0]);
    if used.insert(first.clone()) {
        return first;
    }
    for _ in 0..8 {
        let name = format!("{}{} (民办)", word(rng, places, SCHOOL_WORD), pick(rng, kinds));
        if used.insert(name.clone()) {
            return name;
        }
    }
    let base = format!("{city}{}{}", pick(rng, SCHOOL_WORD), pick(rng, kinds));
    unique(used, base, |n| format!("第{}校区 (民办)", chinese_number(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn chinese_numbers() {
        let cases = [
            (1, "一"),
            (3, "三"),
            (10, "十"),
            (12, "十二"),
            (20, "二十"),
            (35, "三十五"),
            (101, "一百零一"),
            (110, "一百一十"),
        ];
        for (n, s) in cases {
            assert_eq!(chinese_number(n), s, "{n}");
        }
    }

    #[test]
    fn names_are_unique_and_plain() {
        let mut rng = Rand::new(1, 0, Purpose::Layout);
        let mut used = HashSet::new();
        for i in 0..3000 {
            let n = block_name(&mut rng, &mut used, &["东亭", "安镇"], i % 3 == 0, i % 7 == 0);
            assert!(!n.contains(',') && !n.contains('"'));
        }
        assert_eq!(used.len(), 3000);
        let mut used = HashSet::new();
        for i in 0..500 {
            public_school_name(&mut rng, &mut used, "梁溪区", &["崇安"], Stage::Junior, Some(i), 500);
        }
        assert_eq!(used.len(), 500);
        assert!(used.contains("梁溪区实验中学"));
        let mut used = HashSet::new();
        for _ in 0..500 {
            private_school_name(&mut rng, &mut used, "无锡", &[], Stage::Primary);
        }
        assert!(used.contains("无锡外国语学校 (民办)"));
        assert_eq!(used.len(), 500);
    }
}
